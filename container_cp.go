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
	"strings"

	"github.com/hullbox/hull/internal/archive"
)

// The rules of `docker cp` for where a copy lands, both ways: a file
// copied to a directory goes into it under its own name, to a file or a
// missing path it takes that name (a missing path ending in "/" is an
// error: the directory must exist); a directory copied to a directory goes
// into it under its own name, or only its contents when the source ends in
// "/.", to a missing path becomes that path, and to a file is an error.
// The parent of a missing destination must exist.

// cpTarget is where a copy lands: the directory the tar is unpacked in,
// and the name its top entry gets there ("": the source directory's
// contents, no entry of its own).
type cpTarget struct {
	dir, name string
}

// cpDestination applies docker cp's rules to a source (a directory or
// not; contents: it ends in "/.") and a destination dst (exists, isDir).
func cpDestination(srcName string, srcIsDir, contents bool, dst string, exists, isDir bool, dir, base func(string) string) (cpTarget, error) {
	switch {
	case exists && isDir:
		if contents {
			return cpTarget{dir: dst}, nil
		}
		return cpTarget{dir: dst, name: srcName}, nil
	case exists && srcIsDir:
		return cpTarget{}, fmt.Errorf("%w: cannot copy a directory to the file %s", ErrInvalidArgument, dst)
	case !exists && !srcIsDir && (strings.HasSuffix(dst, "/") || strings.HasSuffix(dst, "/.")):
		return cpTarget{}, fmt.Errorf("%w: the destination directory %s does not exist", fs.ErrNotExist, dst)
	}
	name := base(dst)
	if name == "/" || name == "." || name == ".." {
		return cpTarget{}, fmt.Errorf("%w: destination %s", ErrInvalidArgument, dst)
	}
	return cpTarget{dir: dir(dst), name: name}, nil
}

// CopyToHost copies the file or directory src of the container to hostDst
// on the host, with `docker cp CONTAINER:src hostDst`'s rules (above): into
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
	t, err := cpDestination(path.Base("/"+rel), srcIsDir, copiesContents(src, srcIsDir), hostDst, exists, isDir,
		filepath.Dir, filepath.Base)
	if err != nil {
		return err
	}
	if rel == "." && t.name != "" && !exists {
		// The container's root to a new directory: its entries there.
		if err := os.Mkdir(hostDst, 0o755); err != nil {
			return err
		}
		t = cpTarget{dir: hostDst}
	}
	if fi, err := os.Stat(t.dir); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("%s: %w", t.dir, fs.ErrInvalid)
	}
	rc, err := c.copyFrom(ctx, rel, t.name)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = archive.Apply(ctx, t.dir, rc, archive.Options{})
	return err
}

// copiesContents reports whether a copy of src copies a directory's
// contents only: it ends in "/." (docker cp's SRC_PATH/.).
func copiesContents(src string, isDir bool) bool {
	return isDir && (strings.HasSuffix(src, "/.") || src == ".")
}

// CopyFromHost copies the host file or directory hostPath to dst in the
// container, with `docker cp hostPath CONTAINER:dst`'s rules (above): into
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
	if !fi.IsDir() && (strings.HasSuffix(hostPath, "/") || strings.HasSuffix(hostPath, "/.")) {
		return fmt.Errorf("%s: %w", hostPath, errNotDir)
	}
	exists, isDir, err := c.statPath(dst)
	if err != nil {
		return err
	}
	t, err := cpDestination(filepath.Base(abs), fi.IsDir(), copiesContents(hostPath, fi.IsDir()), dst, exists, isDir,
		path.Dir, path.Base)
	if err != nil {
		return err
	}
	u := archive.Union{Layers: []string{filepath.Dir(abs)}}
	top := filepath.Base(abs)
	if abs == "/" {
		u, top = archive.Union{Layers: []string{"/"}}, "."
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(u.WriteTar(ctx, pw, top, t.name)) }()
	defer pr.Close()
	return c.CopyTo(ctx, t.dir, pr)
}

// errNotDir: a source path that ends in "/" is not a directory.
var errNotDir = errors.New("not a directory")
