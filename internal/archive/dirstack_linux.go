package archive

import (
	"errors"
	"fmt"
	rawptr "unsafe" // the package's unsafe is its error helper

	"golang.org/x/sys/unix"
)

// Apply reaches every entry by its name in its parent directory's descriptor (openat,
// mkdirat, symlinkat, linkat, fchownat... all with O_NOFOLLOW or AT_SYMLINK_NOFOLLOW),
// never by a path string: so a name may be longer than PATH_MAX, and a symlink on the
// way is seen, not followed.
//
// Tar entries come mostly in walk order, so the directories entered are kept as a stack,
// the chain from the layer root to the parent of the last entry: the next entry pops to
// the part of the chain it shares and opens the rest. Memory is linear in the depth (a
// name per level, not a path), and the descriptors held open are bounded: past
// maxOpenDirs levels the shallowest ones are closed, to be reopened through ".." of the
// level below when the walk comes back up (checked to be the same directory).

// maxOpenDirs bounds the directory descriptors a dirStack holds open besides its root.
const maxOpenDirs = 64

// dirFlags open a directory for the *at calls and for fchown, fchmod, fsetxattr and
// utimensat on it; a symlink or anything but a directory is refused, never opened.
const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// level is one directory of a dirStack.
type level struct {
	end      int    // where the level's name ends in dirStack.path
	fd       int    // -1 while closed to respect maxOpenDirs
	dev, ino uint64 // the directory's, if known: recorded at the latest when fd is closed early
	known    bool   // dev and ino are set
}

// identify records l's device and inode, if not known yet; l is open.
func (l *level) identify() error {
	if l.known {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(l.fd, &st); err != nil {
		return err
	}
	l.dev, l.ino, l.known = st.Dev, st.Ino, true
	return nil
}

// dirStack is a chain of open directories below a root. levels[0] is the root, which
// the stack never closes; levels[opened:] are open, levels[1:opened] closed.
type dirStack struct {
	path    []byte // the names of levels[1:] joined by "/"
	levels  []level
	opened  int
	onClose func(l *level) error // if set, called with each level before its descriptor is closed
}

func newDirStack(root int) dirStack {
	return dirStack{levels: []level{{fd: root}}, opened: 1}
}

func (s *dirStack) top() int { return s.levels[len(s.levels)-1].fd }

func (s *dirStack) topLevel() *level { return &s.levels[len(s.levels)-1] }

func (s *dirStack) depth() int { return len(s.levels) - 1 }

// common returns the deepest level whose path is p or a parent of p (0, the root, if
// none): p is a clean relative path, "" for the root.
func (s *dirStack) common(p string) int {
	n := 0
	for n < len(p) && n < len(s.path) && p[n] == s.path[n] {
		n++
	}
	for k := s.depth(); k > 0; k-- {
		if e := s.levels[k].end; e <= n && (e == len(p) || p[e] == '/') {
			return k
		}
	}
	return 0
}

// name returns the name of level k in its parent.
func (s *dirStack) name(k int) string {
	start := s.levels[k-1].end
	if k > 1 {
		start++ // the "/"
	}
	return string(s.path[start:s.levels[k].end])
}

// push adds fd, the directory name in the top level, as the new top.
func (s *dirStack) push(name string, fd int) error {
	if len(s.path) > 0 {
		s.path = append(s.path, '/')
	}
	s.path = append(s.path, name...)
	s.levels = append(s.levels, level{end: len(s.path), fd: fd})
	if len(s.levels)-s.opened <= maxOpenDirs {
		return nil
	}
	l := &s.levels[s.opened]
	if err := l.identify(); err != nil {
		return err
	}
	s.opened++
	return s.closeLevel(l)
}

// pop closes the top level, first reopening the one below it if it was closed.
func (s *dirStack) pop() error {
	k := s.depth()
	var err error
	if k > 1 && s.levels[k-1].fd < 0 {
		err = s.reopen(k - 1)
	}
	err = errors.Join(err, s.closeLevel(&s.levels[k]))
	s.levels = s.levels[:k]
	s.path = s.path[:s.levels[k-1].end]
	s.opened = min(s.opened, k)
	return err
}

// reopen opens the closed level k through ".." of level k+1, and checks that it is
// the directory it was.
func (s *dirStack) reopen(k int) error {
	l := &s.levels[k]
	fd, err := unix.Openat(s.levels[k+1].fd, "..", dirFlags, 0)
	if err != nil {
		return fmt.Errorf("reopen directory: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Dev != l.dev || st.Ino != l.ino {
		unix.Close(fd)
		return fmt.Errorf("reopen directory: %w", errors.Join(err, errChanged))
	}
	l.fd, s.opened = fd, k
	return nil
}

func (s *dirStack) closeLevel(l *level) error {
	if l.fd < 0 {
		return nil
	}
	var err error
	if s.onClose != nil {
		err = s.onClose(l)
	}
	unix.Close(l.fd)
	l.fd = -1
	return err
}

// popTo pops the levels above k.
func (s *dirStack) popTo(k int) error {
	for s.depth() > k {
		if err := s.pop(); err != nil {
			return err
		}
	}
	return nil
}

// release closes every level but the root, without calling onClose: for an error path.
func (s *dirStack) release() {
	for k := s.depth(); k > 0; k-- {
		if fd := s.levels[k].fd; fd >= 0 {
			unix.Close(fd)
		}
	}
	s.levels, s.path, s.opened = s.levels[:1], s.path[:0], 1
}

// removeAll removes the entry name of the directory dirfd, with all it holds if it is a
// directory. No symlink is followed, and it holds at most maxOpenDirs descriptors,
// whatever the depth. forget, if not nil, is called with each directory removed.
func removeAll(dirfd int, name string, forget func(fd int)) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if !errors.Is(err, unix.EISDIR) {
		return err
	}
	s := newDirStack(dirfd)
	defer s.release()
	var todo [][]string // the names still to remove in each level above the root
	enter := func(dirfd int, name string) error {
		fd, err := unix.Openat(dirfd, name, dirFlags, 0)
		if err != nil {
			return err
		}
		if forget != nil {
			forget(fd)
		}
		names, err := readNames(fd)
		if err == nil {
			err = s.push(name, fd)
		} else {
			unix.Close(fd)
		}
		todo = append(todo, names)
		return err
	}
	if err := enter(dirfd, name); err != nil {
		return err
	}
	for s.depth() > 0 {
		names := &todo[len(todo)-1]
		if len(*names) == 0 {
			name := s.name(s.depth())
			todo = todo[:len(todo)-1]
			if err := s.pop(); err != nil {
				return err
			}
			if err := unix.Unlinkat(s.top(), name, unix.AT_REMOVEDIR); err != nil {
				return err
			}
			continue
		}
		name := (*names)[0]
		*names = (*names)[1:]
		err := unix.Unlinkat(s.top(), name, 0)
		if errors.Is(err, unix.EISDIR) {
			err = enter(s.top(), name)
		}
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	return nil
}

// futimens sets the times of the file fd itself (utimensat with a NULL path), which
// x/sys/unix does not wrap with nanoseconds.
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(rawptr.Pointer(ts)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
