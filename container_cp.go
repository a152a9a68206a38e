//go:build linux

package hull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/hullbox/hull/internal/archive"
)

// CopyToHost copies the file or directory src of the container to hostDst
// on the host, with `docker cp CONTAINER:src hostDst`'s rules (archive.CopyDestination): into
// hostDst if it is a directory, as hostDst otherwise. The tar is unpacked
// as an untrusted layer is: no entry can be written outside the directory
// it lands in, and a symlink is copied as a symlink, not followed.
func (c *Container) CopyToHost(ctx context.Context, src, hostDst string) error {
	if err := c.copyToHost(ctx, src, hostDst); err != nil {
		return fmt.Errorf("copy from container %s:%s to %s: %w", shortContainerID(c.id), src, hostDst, err)
	}
	return nil
}

func (c *Container) copyToHost(ctx context.Context, src, hostDst string) error {
	rel, srcIsDir, err := c.copySource(src)
	if err != nil {
		return err
	}
	var exists, isDir bool
	if fi, err := os.Stat(hostDst); err == nil {
		exists, isDir = true, fi.IsDir()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	t, err := archive.CopyDestination(path.Base("/"+rel), srcIsDir, archive.CopiesContents(src, srcIsDir), hostDst, exists, isDir,
		filepath.Dir, filepath.Base)
	if err != nil {
		return cpErr(err)
	}
	if rel == "." && t.Name != "" && !exists {
		// The container's root to a new directory: its entries there.
		if err := os.Mkdir(hostDst, 0o755); err != nil {
			return err
		}
		t = archive.CopyTarget{Dir: hostDst}
	}
	if fi, err := os.Stat(t.Dir); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("%s: %w", t.Dir, fs.ErrInvalid)
	}
	rc, err := c.copyFrom(ctx, rel, t.Name)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = archive.Apply(ctx, t.Dir, rc, archive.Options{})
	return err
}

// cpErr makes archive's refusal of a copy's destination ErrInvalidArgument.
func cpErr(err error) error { return alsoIs(err, archive.ErrCopyTarget, ErrInvalidArgument) }

// CopyFromHost copies the host file or directory hostPath to dst in the
// container, with `docker cp hostPath CONTAINER:dst`'s rules (archive.CopyDestination): into
// dst if it is a directory in the container, as dst otherwise. It is
// CopyTo given a tar of hostPath; a symlink is copied as a symlink.
func (c *Container) CopyFromHost(ctx context.Context, hostPath, dst string) error {
	if err := c.copyFromHost(ctx, hostPath, dst); err != nil {
		return fmt.Errorf("copy %s to container %s:%s: %w", hostPath, shortContainerID(c.id), dst, err)
	}
	return nil
}

func (c *Container) copyFromHost(ctx context.Context, hostPath, dst string) error {
	abs, err := filepath.Abs(hostPath)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return err
	}
	if err := archive.CheckDirSource(hostPath, fi.IsDir()); err != nil {
		return err
	}
	exists, isDir, err := c.statPath(dst)
	if err != nil {
		return err
	}
	t, err := archive.CopyDestination(filepath.Base(abs), fi.IsDir(), archive.CopiesContents(hostPath, fi.IsDir()), dst, exists, isDir,
		path.Dir, path.Base)
	if err != nil {
		return cpErr(err)
	}
	u := archive.Union{Layers: []string{filepath.Dir(abs)}}
	top := filepath.Base(abs)
	if abs == "/" {
		u, top = archive.Union{Layers: []string{"/"}}, "."
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(u.WriteTar(ctx, pw, top, t.Name)) }()
	defer pr.Close()
	return c.CopyTo(ctx, t.Dir, pr)
}
