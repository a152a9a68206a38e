package hull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/hullbox/hull/internal/archive"
	"github.com/hullbox/hull/internal/initproc"
	"github.com/hullbox/hull/internal/procfs"
	"golang.org/x/sys/unix"
)

// A container's filesystem is its upper directory (containers/<id>/upper, on the host)
// over its image's snapshots. Diff, Export and CopyFrom read the merged view straight
// from those directories (internal/archive's Union) instead of mounting it: they work the
// same on running and stopped containers and cannot leak a mount. What hull mounts at
// start (/proc, /sys, /dev, /etc/hosts...) is not part of that view, as in Docker.
// Reading a running container's upper directory sees its files as they are being
// written; stop it for a consistent copy. The reads go down the layer directories by
// descriptor, one name at a time, never through a symlink (internal/archive's
// fdwalk_linux.go): a container that swaps a directory for a symlink meanwhile
// (CVE-2018-15664) can make its own copy fail, never make it read the host's files.

// layerDirs returns the container's upper directory and the layers below it, top first:
// the init layer (snapshot.InitLayer), then its image's snapshots.
func (c *Container) layerDirs() (upper string, lowers []string) {
	c.mu.Lock()
	chains := c.st.ChainIDs
	c.mu.Unlock()
	if dir, err := c.rt.snaps.InitLayer(); err == nil {
		lowers = append(lowers, dir)
	}
	for i := len(chains) - 1; i >= 0; i-- {
		lowers = append(lowers, c.rt.snaps.Path(chains[i]))
	}
	return filepath.Join(c.rt.containerDir(c.id), "upper"), lowers
}

// mountPoints returns the container's mount destinations, relative to its root: the
// init mounts over them, so what is at those paths in the upper dir is a mount point hull
// made (an empty /etc/hosts...), not a change of the container. Diff and Commit leave
// them out, as Docker does with its init layer.
func (c *Container) mountPoints() []string {
	data, err := os.ReadFile(filepath.Join(c.rt.containerDir(c.id), "config.json"))
	if err != nil {
		return nil
	}
	var cfg initproc.Config
	if json.Unmarshal(data, &cfg) != nil || cfg.Spec == nil {
		return nil
	}
	var out []string
	for _, m := range cfg.Spec.Mounts {
		if rel := strings.TrimPrefix(path.Clean("/"+m.Destination), "/"); rel != "" {
			out = append(out, rel)
		}
	}
	return out
}

// Diff lists the paths the container added, changed and deleted relative to its image,
// sorted, like `docker diff`. Directories that hold changes are listed as changed.
func (c *Container) Diff(ctx context.Context) ([]Change, error) {
	upper, lowers := c.layerDirs()
	chs, err := archive.Changes(ctx, upper, lowers, c.mountPoints()...)
	if err != nil {
		return nil, fmt.Errorf("diff container %s: %w", shortContainerID(c.id), err)
	}
	out := make([]Change, len(chs))
	for i, ch := range chs {
		out[i] = Change{Kind: ChangeKind(ch.Kind), Path: ch.Path}
	}
	return out, nil
}

// Export writes the container's root filesystem to w as an uncompressed tar, like
// `docker export`: the image's files with the container's changes, deleted files absent.
func (c *Container) Export(ctx context.Context, w io.Writer) error {
	upper, lowers := c.layerDirs()
	u := archive.Union{Layers: append([]string{upper}, lowers...)}
	if err := u.WriteTar(ctx, w, ".", ""); err != nil {
		return fmt.Errorf("export container %s: %w", shortContainerID(c.id), err)
	}
	return nil
}

// CopyFrom returns a tar stream of the file or directory at p in the container, like
// `docker cp CONTAINER:p -`: the entries are named from p's last element. Symlinks in p
// are followed inside the container's root (never to the host's); a final symlink is
// copied as a symlink. The caller must Close the stream. A missing p returns an error
// wrapping fs.ErrNotExist.
func (c *Container) CopyFrom(ctx context.Context, p string) (io.ReadCloser, error) {
	rel, _, err := c.copySource(p)
	if err != nil {
		return nil, fmt.Errorf("copy from container %s: %w", shortContainerID(c.id), err)
	}
	base := path.Base(rel)
	if rel == "." {
		base = "" // the whole root: its entries, not the root itself
	}
	return c.copyFrom(ctx, rel, base)
}

// union is the merged view of the container's root (archive.Union).
func (c *Container) union() archive.Union {
	upper, lowers := c.layerDirs()
	return archive.Union{Layers: append([]string{upper}, lowers...)}
}

// copySource resolves p, the source of a copy out of the container, as
// docker cp does (a final symlink is not followed): its path in the
// union view, and whether it is a directory. p ending in "/" must be one.
func (c *Container) copySource(p string) (rel string, isDir bool, err error) {
	u := c.union()
	if rel, err = u.Resolve(p, false); err != nil {
		return "", false, err
	}
	if _, isDir, err = u.IsDir(rel); err != nil {
		return "", false, err
	}
	return rel, isDir, archive.CheckDirSource(p, isDir)
}

// copyFrom writes the tar of rel (copySource's) with its top entry named
// name ("": the directory's entries only).
func (c *Container) copyFrom(ctx context.Context, rel, name string) (io.ReadCloser, error) {
	u := c.union()
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(u.WriteTar(ctx, pw, rel, name))
	}()
	return pr, nil
}

// statPath reports whether p exists in the container and is a directory,
// resolved as the container would (symlinks followed inside its root): in
// its own view of its root while it runs (so volumes are seen), else in
// the merged view of its layers.
func (c *Container) statPath(p string) (exists, isDir bool, err error) {
	if c.running() {
		c.mu.Lock()
		pid, start := c.st.Pid, c.st.PidStart
		c.mu.Unlock()
		root, err := procRoot(pid, start)
		if err != nil {
			return false, false, err
		}
		defer unix.Close(root)
		return archive.StatInRoot(root, p)
	}
	u := c.union()
	rel, err := u.Resolve(p, true)
	if errors.Is(err, fs.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return u.IsDir(rel)
}

// CopyTo extracts the tar stream r into the directory dst of the container, like `docker
// cp - CONTAINER:dst`. dst and every path in the tar are resolved inside the container's
// root: a symlink in the container, absolute or relative, cannot send a write outside
// it, even one swapped in while the copy runs. Whiteout entries (".wh.*") are ignored.
//
// A running (or created) container is written through its own view of its root
// (/proc/<pid>/root, with RESOLVE_IN_ROOT), so its mounts are seen as it sees them. A
// stopped container's overlay is mounted in a private mount namespace of one thread,
// which the kernel removes when the copy ends: nothing to leak even if hull dies. Either
// way the tar is unpacked by a thread whose root directory is the container's root. A
// container that exits as the copy starts fails it with ErrConflict.
func (c *Container) CopyTo(ctx context.Context, dst string, r io.Reader) error {
	if err := c.copyTo(ctx, dst, r); err != nil {
		return fmt.Errorf("copy to container %s:%s: %w", shortContainerID(c.id), dst, err)
	}
	return nil
}

func (c *Container) copyTo(ctx context.Context, dst string, r io.Reader) error {
	if c.running() {
		c.mu.Lock()
		pid, start := c.st.Pid, c.st.PidStart
		c.mu.Unlock()
		return archive.OnOwnFS(func() error {
			root, err := procRoot(pid, start)
			if err != nil {
				return err
			}
			defer unix.Close(root)
			return extractInRoot(ctx, root, dst, r)
		})
	}
	upper, lowers := c.layerDirs()
	dir := c.rt.containerDir(c.id)
	// A volatile run leaves a mark that fails the mount (initproc.Config.Volatile).
	if err := os.RemoveAll(filepath.Join(dir, "work", initproc.VolatileMarker)); err != nil {
		return err
	}
	err := archive.InOverlay(upper, lowers, filepath.Join(dir, "work"), filepath.Join(dir, "rootfs"), func(root int) error {
		return extractInRoot(ctx, root, dst, r)
	})
	return alsoIs(err, archive.ErrTooManyLayers, ErrUnsupported)
}

// procRoot opens the root directory of the container's init pid, which started at start
// (procfs.OpenRoot): never the root of a host process that took its pid, ErrConflict.
func procRoot(pid int, start uint64) (int, error) {
	fd, err := procfs.OpenRoot(pid, start)
	return fd, alsoIs(err, procfs.ErrExited, ErrConflict)
}

// pauseForCommit freezes a running container (unless noPause) and returns what thaws it.
func (c *Container) pauseForCommit(ctx context.Context, noPause bool) (func() error, error) {
	nothing := func() error { return nil }
	if noPause || c.status() != StatusRunning {
		return nothing, nil
	}
	// Who froze it, before it is frozen: should this process die before
	// it thaws, the next Open does (recoverContainers).
	if err := c.setPausedBy(os.Getpid()); err != nil {
		return nil, err
	}
	if err := c.Pause(ctx); err != nil {
		err = errors.Join(err, c.setPausedBy(0))
		if !c.running() {
			return nothing, nil // it exited meanwhile: nothing to freeze
		}
		return nil, err
	}
	return func() error {
		return errors.Join(c.Resume(context.WithoutCancel(ctx)), c.setPausedBy(0))
	}, nil
}

// setPausedBy records pid (0: no one) as the process that froze the
// container for its own work.
func (c *Container) setPausedBy(pid int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.PausedBy, c.st.PausedByStart = pid, 0
	if pid != 0 {
		c.st.PausedByStart = procStartTime(pid)
	}
	return writeState(c.rt.containerDir(c.id), &c.st)
}

// extractInRoot applies the tar r in dst inside the container root rootFD
// (archive.ApplyInRoot, on a thread of its own file system context) and refuses a
// hardlink to a file the tar lacks.
func extractInRoot(ctx context.Context, rootFD int, dst string, r io.Reader) error {
	res, err := archive.ApplyInRoot(ctx, rootFD, dst, r)
	if err != nil {
		return err
	}
	return alsoIs(res.Dangling(), archive.ErrUnsafe, ErrInvalidContent)
}
