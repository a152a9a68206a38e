package archive

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// Walking a tree that someone else may be changing (a running container's upper
// directory, a volume it has mounted) by host path strings is unsafe: a directory on the
// path can be exchanged for a symlink between two system calls (renameat2
// RENAME_EXCHANGE in a loop, the CVE-2018-15664 race of `docker cp`), and O_NOFOLLOW
// guards only the last component. So every walk here holds each directory open and
// reaches an entry only by its name in its directory's descriptor, never following a
// symlink: openat(O_NOFOLLOW) for directories and files, fstatat(AT_SYMLINK_NOFOLLOW),
// readlinkat, and the xattr calls on /proc/self/fd/DIR/NAME with the l* variants (one
// pinned directory, then one name not followed). A racer can make its own copy fail
// (errChanged, ELOOP) or show its own files under another name; it cannot make the walk
// leave the tree. No path string grows with the depth of the tree, so there is no
// PATH_MAX limit either.

// errChanged is returned when an entry was replaced while it was read.
var errChanged = errors.New("replaced while being read")

// ref names an entry by the directory holding it and its name there. dir is borrowed:
// whoever opened it closes it. dev and ino, when ino is not 0, are what the entry was when
// listed: opening it checks that it still is.
type ref struct {
	dir      int
	name     string
	dev, ino uint64
}

// xattrPath is a path for the l*xattr calls that reaches r without following a symlink
// on the way: the magic link of the pinned directory, then r's name.
func (r ref) xattrPath() string {
	return "/proc/self/fd/" + strconv.Itoa(r.dir) + "/" + r.name
}

func (r ref) stat(st *unix.Stat_t) error {
	return unix.Fstatat(r.dir, r.name, st, unix.AT_SYMLINK_NOFOLLOW)
}

// openDir opens the directory r for reading its entries. A symlink is never followed;
// an entry that is no longer the directory listed is errChanged.
func (r ref) openDir() (int, error) {
	fd, err := unix.Openat(r.dir, r.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return -1, fmt.Errorf("%w: %w", errChanged, err)
	}
	if err != nil {
		return -1, err
	}
	if err := r.same(fd, unix.S_IFDIR); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// same checks that fd is of type typ and, if r records one, the inode listed.
func (r ref) same(fd int, typ uint32) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != typ || (r.ino != 0 && (st.Ino != r.ino || st.Dev != r.dev)) {
		return errChanged
	}
	return nil
}

// openFile opens the regular file r for reading. It is first opened O_PATH and checked
// (a device or fifo swapped in is never opened: opening a device node as the host's root
// would read the host's device), then reopened through its descriptor.
func (r ref) openFile() (*os.File, error) {
	pfd, err := unix.Openat(r.dir, r.name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pfd)
	if err := r.same(pfd, unix.S_IFREG); err != nil {
		return nil, err
	}
	p := "/proc/self/fd/" + strconv.Itoa(pfd)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), r.name), nil
}

func (r ref) readlink() (string, error) {
	for size := 256; ; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(r.dir, r.name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// openDirs opens every ref of a merged directory, top first; on error none stays open.
func openDirs(refs []ref) ([]int, error) {
	fds := make([]int, 0, len(refs))
	for _, r := range refs {
		fd, err := r.openDir()
		if err != nil {
			closeAll(fds)
			return nil, err
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// openRoots opens layer directories given by host path: hull's own directories, which
// a container cannot change; what is below them is reached by descriptor only.
func openRoots(paths []string) ([]int, error) {
	fds := make([]int, 0, len(paths))
	for _, p := range paths {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll(fds)
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// rootNode is the directory node of the layers fds, top first: the top one's metadata,
// all of them merged.
func rootNode(fds []int) (node, error) {
	n := node{at: ref{dir: fds[0], name: "."}}
	if err := n.at.stat(&n.st); err != nil {
		return node{}, err
	}
	for _, fd := range fds {
		n.dirs = append(n.dirs, ref{dir: fd, name: "."})
	}
	return n, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// readNames returns the names in the directory fd (without "." and ".."), sorted.
func readNames(fd int) ([]string, error) {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return nil, err
	}
	buf := make([]byte, 32<<10)
	var names []string
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	slices.Sort(names)
	return names, nil
}
