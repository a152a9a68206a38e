package spec

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// maxIDFile bounds how much of /etc/passwd or /etc/group is read: they come from the
// image, and an image is hostile until proven otherwise.
const maxIDFile = 16 << 20

// maxID is the largest uid or gid accepted, as in runc: ids above it are ambiguous
// (negative in some interfaces) and overflow the user namespace maps.
const maxID = 1<<31 - 1

// ResolveUser resolves a Docker user spec ("", "name", "uid", "uid:gid", "name:group",
// "uid:group" ...) against rootfs's /etc/passwd and /etc/group, the way runc does for
// Docker:
//
//   - "" is uid 0. A user name must be in passwd; a numeric uid need not be (nor need
//     the files exist). The gid and home come from the passwd entry, else 0 and "/".
//   - A group after ":" sets the gid: a name must be in group, a number need not be.
//   - Without an explicit group, additionalGids are the groups that list the user by name
//     (sorted, without duplicates).
//
// The files are opened inside rootfs as if it were the root (symlinks resolve within it),
// so a hostile image cannot make hull read a host file. rootfs may be /proc/PID/root of a
// running container (for exec). A name that is not found gives Docker's error ("unable to
// find user x: no matching entries in passwd file"), which wraps ErrUnknownUser.
func ResolveUser(rootfs, user string) (uid, gid uint32, additionalGids []uint32, home string, err error) {
	u, err := resolveIn(rootfs, nil, user)
	if err != nil {
		return 0, 0, nil, "", err
	}
	return u.uid, u.gid, u.groups, u.home, nil
}

// resolveIn resolves user against fsys's etc/passwd and etc/group when fsys is set, else
// against rootfs's.
func resolveIn(rootfs string, fsys fs.FS, user string) (execUser, error) {
	read := func(name string) ([]byte, error) { return readFSFile(fsys, name) }
	if fsys == nil {
		root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return execUser{}, &fs.PathError{Op: "open", Path: rootfs, Err: err}
		}
		defer unix.Close(root)
		read = func(name string) ([]byte, error) { return readRootFile(rootfs, root, "/"+name) }
	}
	passwd, err := read("etc/passwd")
	if err != nil {
		return execUser{}, err
	}
	group, err := read("etc/group")
	if err != nil {
		return execUser{}, err
	}
	return resolveUser(user, passwd, group)
}

// execUser is a resolved user.
type execUser struct {
	uid, gid uint32
	groups   []uint32
	home     string
}

// resolveUser is ResolveUser on the files' contents (nil when a file is absent).
func resolveUser(spec string, passwd, group []byte) (execUser, error) {
	userArg, groupArg, _ := strings.Cut(spec, ":")
	u := execUser{home: "/"}
	uidArg, uidNumeric, err := parseID(userArg)
	if err != nil {
		return u, err
	}
	entry, found := findPasswd(passwd, func(p passwdEntry) bool {
		switch {
		case userArg == "":
			return p.uid == 0
		case uidNumeric:
			return p.uid == uidArg
		}
		return p.name == userArg
	})
	switch {
	case found:
		u.uid, u.gid = entry.uid, entry.gid
		if entry.home != "" {
			u.home = entry.home
		}
	case uidNumeric:
		u.uid = uidArg
	case userArg != "":
		return u, &unknownError{kind: "user", name: userArg, file: "passwd"}
	}
	if groupArg != "" {
		u.gid, err = resolveGroup(groupArg, group)
		return u, err
	}
	if found {
		u.groups = supplementaryGroups(entry.name, group)
	}
	return u, nil
}

// resolveGroup finds an explicit group by name or gid; a gid need not be in the file.
func resolveGroup(groupArg string, group []byte) (uint32, error) {
	gidArg, numeric, err := parseID(groupArg)
	if err != nil {
		return 0, err
	}
	g, found := findGroup(group, func(g groupEntry) bool {
		if numeric {
			return g.gid == gidArg
		}
		return g.name == groupArg
	})
	switch {
	case found:
		return g.gid, nil
	case numeric:
		return gidArg, nil
	}
	return 0, &unknownError{kind: "group", name: groupArg, file: "group"}
}

// supplementaryGroups lists the gids of the groups whose member list names user.
func supplementaryGroups(user string, group []byte) []uint32 {
	var gids []uint32
	forEachLine(group, func(fields []string) {
		g, ok := parseGroup(fields)
		if ok && slices.Contains(g.members, user) {
			gids = append(gids, g.gid)
		}
	})
	slices.Sort(gids)
	return slices.Compact(gids)
}

// parseID reports whether s is a decimal id, and its value. A decimal that is out of
// range is an error; anything else is a name.
func parseID(s string) (uint32, bool, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > maxID {
		return 0, false, invalidf("id %s out of range 0-%d", s, maxID)
	}
	return uint32(n), true, nil
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// findPasswd returns the first well-formed passwd line that matches.
func findPasswd(data []byte, match func(passwdEntry) bool) (passwdEntry, bool) {
	var found passwdEntry
	ok := false
	forEachLine(data, func(f []string) {
		// name:password:uid:gid:gecos:home:shell
		if ok || len(f) < 4 {
			return
		}
		uid, uidOK, _ := parseID(f[2])
		gid, gidOK, _ := parseID(f[3])
		if !uidOK || !gidOK {
			return
		}
		e := passwdEntry{name: f[0], uid: uid, gid: gid}
		if len(f) > 5 {
			e.home = f[5]
		}
		if match(e) {
			found, ok = e, true
		}
	})
	return found, ok
}

// findGroup returns the first well-formed group line that matches.
func findGroup(data []byte, match func(groupEntry) bool) (groupEntry, bool) {
	var found groupEntry
	ok := false
	forEachLine(data, func(f []string) {
		if g, valid := parseGroup(f); !ok && valid && match(g) {
			found, ok = g, true
		}
	})
	return found, ok
}

// parseGroup parses name:password:gid:member,member.
func parseGroup(f []string) (groupEntry, bool) {
	if len(f) < 3 {
		return groupEntry{}, false
	}
	gid, ok, _ := parseID(f[2])
	if !ok {
		return groupEntry{}, false
	}
	g := groupEntry{name: f[0], gid: gid}
	if len(f) > 3 && f[3] != "" {
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				g.members = append(g.members, m)
			}
		}
	}
	return g, true
}

// forEachLine calls fn with the colon-separated fields of every line that is not empty or
// a comment.
func forEachLine(data []byte, fn func(fields []string)) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxIDFile)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fn(strings.Split(line, ":"))
	}
}

// readRootFile reads name inside rootfs (open as root), resolving symlinks as if rootfs
// were "/". A file that cannot be reached (missing, a path through a non-directory, a
// symlink loop) is nil, nil, as in runc: numeric ids still work and names fail with
// Docker's message. Only regular files are read (a FIFO or device in a hostile image
// would block, never end, or act on open), and at most maxIDFile bytes. It uses raw file
// descriptors: this is on every container start, and os.File's poller costs more than
// the read.
func readRootFile(rootfs string, root int, name string) ([]byte, error) {
	h, err := openInRoot(rootfs, root, name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s in rootfs: %w", name, err)
	}
	defer unix.Close(h)
	var st unix.Stat_t
	if err := unix.Fstat(h, &st); err != nil {
		return nil, fmt.Errorf("stat %s in rootfs: %w", name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s in rootfs is not a regular file: %w", name, ErrInvalid)
	}
	if st.Size > maxIDFile {
		return nil, fmt.Errorf("%s in rootfs is larger than %d bytes: %w", name, maxIDFile, ErrInvalid)
	}
	// Reopen the O_PATH handle for reading: the inode cannot change under it. The host's
	// /proc is trusted (only the container's is not).
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(h), unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s in rootfs: %w", name, err)
	}
	defer unix.Close(fd)
	data, err := readAll(fd, int(st.Size))
	if err != nil {
		return nil, fmt.Errorf("read %s in rootfs: %w", name, err)
	}
	return data, nil
}

// readAll reads fd to its end, or to maxIDFile bytes (the file may grow after fstat).
func readAll(fd, sizeHint int) ([]byte, error) {
	buf := make([]byte, 0, sizeHint+512)
	for len(buf) < maxIDFile {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := unix.Read(fd, buf[len(buf):min(cap(buf), maxIDFile)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
	}
	return buf, nil
}

// openInRoot returns an O_PATH descriptor for name resolved inside the directory root
// (rootfs, open as dir) as in a chroot: openat2(RESOLVE_IN_ROOT), one race-free syscall,
// or pathrs-lite's emulation of it on kernels before 5.6.
func openInRoot(rootfs string, dir int, name string) (int, error) {
	for {
		fd, err := unix.Openat2(dir, name, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		switch err {
		case nil:
			return fd, nil
		case unix.EAGAIN, unix.EINTR: // a rename raced the lookup
			continue
		case unix.ENOSYS, unix.EPERM: // old kernel, or a seccomp filter that blocks openat2
			return openInRootFallback(rootfs, name)
		}
		return -1, &fs.PathError{Op: "openat2", Path: name, Err: err}
	}
}

// openInRootFallback is openInRoot through pathrs-lite, which emulates RESOLVE_IN_ROOT.
func openInRootFallback(root, name string) (int, error) {
	f, err := pathrs.OpenInRoot(root, name)
	if err != nil {
		return -1, err
	}
	defer f.Close()
	return unix.Dup(int(f.Fd()))
}

// readFSFile reads name from fsys with readRootFile's rules: absent is nil, nil; only a
// regular file of at most maxIDFile bytes is read. It stats before opening, so an FS that
// implements fs.StatFS never opens a FIFO.
func readFSFile(fsys fs.FS, name string) ([]byte, error) {
	st, err := fs.Stat(fsys, name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stat %s in image: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("/%s in image is not a regular file: %w", name, ErrInvalid)
	}
	if st.Size() > maxIDFile {
		return nil, fmt.Errorf("/%s in image is larger than %d bytes: %w", name, maxIDFile, ErrInvalid)
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open /%s in image: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIDFile))
	if err != nil {
		return nil, fmt.Errorf("read /%s in image: %w", name, err)
	}
	return data, nil
}

// unknownError is a user or group name missing from the image, worded as Docker words it.
type unknownError struct{ kind, name, file string }

func (e *unknownError) Error() string {
	return fmt.Sprintf("unable to find %s %s: no matching entries in %s file", e.kind, e.name, e.file)
}

func (e *unknownError) Unwrap() error { return ErrUnknownUser }

// ResolveUserFS is ResolveUser against fsys's etc/passwd and etc/group
// (an image's layers, archive.LayerFS): a build's COPY --chown.
func ResolveUserFS(fsys fs.FS, user string) (uid, gid uint32, err error) {
	u, err := resolveIn("", fsys, user)
	return u.uid, u.gid, err
}
