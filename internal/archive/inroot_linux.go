package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// InPrivateMountNS runs fn on a thread of its own in a new mount namespace, with every
// mount private (and so with its own root and working directory, as with OnOwnFS). The
// thread is never given back to the Go scheduler: it exits with the goroutine, and its
// namespace, with every mount fn made, goes with it.
func InPrivateMountNS(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // no unlock: the thread must die, not be reused
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("new mount namespace: %w", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			errc <- fmt.Errorf("make mounts private: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// OnOwnFS runs fn on a thread of its own whose root and working directory are its own
// (unshare CLONE_FS), so that fn may chroot (ApplyInRoot). The thread is never given back
// to the Go scheduler: it exits with the goroutine.
func OnOwnFS(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // no unlock: the thread must die, not be reused
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare fs: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// openInRoot opens the directory p inside rootFD with RESOLVE_IN_ROOT (openAt2).
func openInRoot(rootFD int, p string) (int, error) {
	return openAt2(rootFD, p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)
}

// StatInRoot reports whether p, resolved inside the root directory rootFD (a
// container's) as the container would resolve it, symlinks followed but never above
// the root, exists and is a directory. It may run on any thread.
func StatInRoot(rootFD int, p string) (exists, isDir bool, err error) {
	fd, err := openAt2(rootFD, p, unix.O_PATH|unix.O_CLOEXEC)
	if errors.Is(err, unix.ENOENT) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("%s: %w", p, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, false, fmt.Errorf("%s: %w", p, err)
	}
	return true, st.Mode&unix.S_IFMT == unix.S_IFDIR, nil
}

// openAt2 opens p inside rootFD with RESOLVE_IN_ROOT and flags, trying again while a
// rename elsewhere makes the kernel answer EAGAIN (a container renaming files in a loop
// could otherwise fail every copy at once).
func openAt2(rootFD int, p string, flags int) (int, error) {
	how := &unix.OpenHow{
		Flags:   uint64(flags),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for try := 0; ; try++ {
		fd, err := unix.Openat2(rootFD, p, how)
		if (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)) && try < 100 {
			continue
		}
		return fd, err
	}
}

// ApplyInRoot applies the tar r in the directory dst, resolved by the kernel inside the
// root directory rootFD (a container's), with Apply, ignoring whiteout entries (".wh.*":
// a copy into a container writes files, it does not delete the image's). Hardlinks to
// files the tar lacks are left in the Result's PendingLinks, for the caller to refuse.
//
// It must run on a thread of its own file system context (OnOwnFS, InPrivateMountNS): it
// makes the root that thread's root directory, so that no path Apply walks, whatever
// the container swaps into it meanwhile (a symlink to "/", ".." beyond the root), leaves
// the container. Apply itself walks by descriptors, never following a symlink; the
// chroot also keeps its ".." walks back up a deep tree inside the container
// (CVE-2018-15664).
func ApplyInRoot(ctx context.Context, rootFD int, dst string, r io.Reader) (Result, error) {
	fd, err := openInRoot(rootFD, dst)
	if err != nil {
		return Result{}, fmt.Errorf("open %s: %w", dst, err)
	}
	defer unix.Close(fd)
	if err := unix.Fchdir(rootFD); err != nil {
		return Result{}, fmt.Errorf("enter container root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return Result{}, fmt.Errorf("enter container root: %w", err)
	}
	// The working directory is dst itself, held by its descriptor: a rename of dst or
	// of its parents does not move the copy.
	if err := unix.Fchdir(fd); err != nil {
		return Result{}, fmt.Errorf("enter %s: %w", dst, err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(dropWhiteouts(r, pw)) }()
	defer pr.Close()
	return Apply(ctx, ".", pr, Options{})
}

// dropWhiteouts copies the tar r to w without ".wh." entries.
func dropWhiteouts(r io.Reader, w io.Writer) error {
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		if strings.HasPrefix(path.Base(hdr.Name), ".wh.") {
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// InOverlay mounts an overlay of lowers (top first) under upper, with
// work its work directory, at mnt in a private mount namespace of one
// thread (InPrivateMountNS), and calls fn there with the mount's root
// opened O_PATH: the kernel removes the mount with the thread, so nothing
// is left even if the process dies. Options longer than a page (too many
// layers) fail with ErrTooManyLayers.
func InOverlay(upper string, lowers []string, work, mnt string, fn func(root int) error) error {
	opts := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + upper + ",workdir=" + work
	if len(opts) >= unix.Getpagesize() {
		return fmt.Errorf("%w: %d layers make overlay options longer than a page", ErrTooManyLayers, len(lowers))
	}
	return InPrivateMountNS(func() error {
		if err := unix.Mount("overlay", mnt, "overlay", 0, opts); err != nil {
			return fmt.Errorf("mount overlay: %w", err)
		}
		root, err := unix.Open(mnt, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open overlay root: %w", err)
		}
		defer unix.Close(root)
		return fn(root)
	})
}

// ErrTooManyLayers is wrapped by InOverlay's error when the layers do not
// fit in one mount's options.
var ErrTooManyLayers = errors.New("too many layers")
