package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// bufPool holds the 1 MiB copy buffers, shared by concurrent Apply calls.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// Apply reads an uncompressed layer tar from r and writes its entries into dir, which
// must exist and be empty, converting whiteouts to overlayfs format (see the package doc).
//
// Entries are applied in order and a later entry for a path replaces an earlier one; a
// directory entry for an existing directory only updates its metadata. Parent directories
// missing from the tar are created 0755, owned by root. Owners, modes (setuid, setgid and
// sticky included), xattrs and nanosecond times are restored; directory times are set
// last, once everything inside them is written. Unsupported entry types are skipped.
// Aligned 4 KiB blocks of zeros in regular files, a sparse entry's holes among them,
// are left holes (see Options).
//
// Entries are reached by descriptor, one name at a time from dir, never by a path
// string, so names longer than PATH_MAX unpack (up to 1 MiB, what Go's tar reader
// reads), and Apply holds at most about 64 directories open whatever the depth. A tar
// in walk order (what builders write) opens each directory once; an entry out of that
// order opens the directories it does not share with the one before it.
//
// Hostile entries are refused with an error naming the entry and wrapping ErrUnsafe;
// nothing is ever written outside dir. After the tar's end Apply reads r to EOF, so a
// digest verifier wrapping r sees the whole stream. Apply does not fsync; the caller
// syncs the filesystem before recording the layer. On error dir holds a partial layer
// that the caller removes. ctx is checked between entries and every MiB of a file.
func Apply(ctx context.Context, dir string, r io.Reader, opts Options) (Result, error) {
	bufp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bufp)
	a, err := newApplier(dir)
	if err != nil {
		return Result{}, fmt.Errorf("apply layer: %w", err)
	}
	defer a.close()
	a.ctx, a.buf = ctx, *bufp
	a.max, a.maxLogical = opts.MaxSize, opts.MaxLogicalSize
	if a.max <= 0 {
		a.max = DefaultMaxSize
	}
	if a.maxLogical <= 0 {
		a.maxLogical = DefaultMaxLogicalSize
	}
	a.maxLogical = max(a.maxLogical, a.max)
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return Result{}, fmt.Errorf("apply layer: %w", err)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		// A name Go's reader finds insecure still comes with its header; entry refuses it.
		if err != nil && (hdr == nil || !errors.Is(err, tar.ErrInsecurePath)) {
			return Result{}, fmt.Errorf("read layer tar: %w", err)
		}
		if err := a.entry(hdr, tr); err != nil {
			return Result{}, fmt.Errorf("layer entry %s: %w", quote(hdr.Name), err)
		}
	}
	if err := a.finish(); err != nil {
		return Result{}, fmt.Errorf("apply layer: %w", err)
	}
	n, err := io.CopyBuffer(io.Discard, io.LimitReader(r, a.max+1), a.buf)
	if err != nil {
		return Result{}, fmt.Errorf("read layer tar: %w", err)
	}
	if n > a.max {
		return Result{}, fmt.Errorf("layer tar: trailing data exceeds %d bytes: %w", a.max, ErrUnsafe)
	}
	return Result{Size: a.size, Written: a.written, PendingLinks: a.pendingLinks()}, nil
}

// applier holds the state of one Apply call. The layer directory is private to the call
// while it runs: the checks guard against what the tar itself does (a symlink planted by
// an earlier entry), not against other writers. Entries are reached through stack, the
// open directories down to the last entry's parent (see dirstack_linux.go).
type applier struct {
	ctx        context.Context
	root       string // the layer directory as given, for the few calls that need a path
	rootFD     int
	stack      dirStack
	max        int64 // bound on written
	maxLogical int64 // bound on size
	size       int64 // apparent size of the regular files so far
	written    int64 // bytes of it written, the rest being holes
	buf        []byte
	// times holds the directory entries' times by device and inode: they are set each
	// time such a directory is closed (left by the stack), and so after what was
	// written inside it. Memory is one record per directory entry, whatever its depth.
	times   map[[2]uint64][2]unix.Timespec
	links   []Link // pending links; Name "" marks one a later entry replaced
	linkIdx map[string]int
}

// newApplier opens root, the layer directory; the caller must call close.
func newApplier(root string) (*applier, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	a := &applier{
		ctx:     context.Background(),
		root:    root,
		rootFD:  fd,
		stack:   newDirStack(fd),
		times:   map[[2]uint64][2]unix.Timespec{},
		linkIdx: map[string]int{},
	}
	a.stack.onClose = a.setDirTimes
	return a, nil
}

// close releases every descriptor, setting no more times.
func (a *applier) close() {
	a.stack.release()
	unix.Close(a.rootFD)
}

// finish closes every directory but the root, setting the directory entries' times,
// then sets the root's own if the tar listed it.
func (a *applier) finish() error {
	if err := a.stack.popTo(0); err != nil {
		return err
	}
	return a.setDirTimes(&a.stack.levels[0])
}

// setDirTimes sets the times the tar gave the directory l, if it listed it.
func (a *applier) setDirTimes(l *level) error {
	if len(a.times) == 0 {
		return nil
	}
	if err := l.identify(); err != nil {
		return fmt.Errorf("set directory times: %w", err)
	}
	ts, ok := a.times[[2]uint64{l.dev, l.ino}]
	if !ok {
		return nil
	}
	if err := futimens(l.fd, &ts); err != nil {
		return fmt.Errorf("set directory times: %w", err)
	}
	return nil
}

// forgetTimes drops the times recorded for the directory fd, about to be removed: its
// inode may be reused by a new directory.
func (a *applier) forgetTimes(fd int) {
	if len(a.times) == 0 {
		return
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil {
		delete(a.times, [2]uint64{st.Dev, st.Ino})
	}
}

// abs returns the host path of name, a clean path relative to the layer root: for the
// calls that have no form taking a directory descriptor.
func (a *applier) abs(name string) string {
	if name == "." {
		return a.root
	}
	return a.root + "/" + name
}

// xattrPath is the path the l*xattr calls use for name, the entry base of the directory
// dirfd: name's path when it is short enough, else base below the directory's magic
// link (procfs must then be mounted at /proc, which a chrooted CopyTo lacks).
func (a *applier) xattrPath(name string, dirfd int, base string) string {
	if len(a.root)+1+len(name) < unix.PathMax {
		return a.abs(name)
	}
	return "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + base
}

func (a *applier) entry(hdr *tar.Header, r io.Reader) error {
	// For a sparse file, Size is the apparent size: the data in the tar is less, and is
	// counted against max as it is written.
	if hdr.Size < 0 || hdr.Size > a.maxLogical {
		return unsafe("declared size %d exceeds the limit of %d bytes", hdr.Size, a.maxLogical)
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	parent, base := path.Dir(name), path.Base(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return a.whiteout(parent, base)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink, tar.TypeLink,
		tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return nil // global PAX headers, volume labels...: nothing to unpack
	}
	if err := checkHeader(hdr); err != nil {
		return err
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return unsafe("the layer root can only be a directory")
		}
		return a.setDirMeta(&a.stack.levels[0], hdr)
	}
	dirfd, _, err := a.enter(parent, true)
	if err != nil {
		return err
	}
	e := at{dir: dirfd, name: name, base: base}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return a.directory(e, hdr)
	case tar.TypeSymlink:
		return a.symlink(e, hdr)
	case tar.TypeLink:
		return a.hardlink(e, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return a.device(e, hdr)
	default:
		return a.regular(e, hdr, r)
	}
}

// at is an entry of the layer: base in the directory dir, name in the layer.
type at struct {
	dir        int
	name, base string
}

// enter makes the stack the chain of directories from the root to p, a clean relative
// path ("." for the root), and returns p's descriptor. With create, missing directories
// are created (0755, root); without, found is false when one is missing. A symlink on
// the way is refused: following it could lead outside the layer.
func (a *applier) enter(p string, create bool) (fd int, found bool, err error) {
	if p == "." {
		p = ""
	}
	s := &a.stack
	k := s.common(p)
	if err := s.popTo(k); err != nil {
		return -1, false, err
	}
	for pos := s.levels[k].end; pos < len(p); {
		comp, end := nextName(p, pos)
		fd, found, err := a.child(s.top(), comp, p[:end], create)
		if err != nil || !found {
			return -1, false, err
		}
		if err := s.push(comp, fd); err != nil {
			return -1, false, err
		}
		pos = end
	}
	return s.top(), true, nil
}

// nextName returns the name in p that starts at pos (or at pos+1, after a "/"), and
// where it ends.
func nextName(p string, pos int) (string, int) {
	if p[pos] == '/' {
		pos++
	}
	end := len(p)
	if i := strings.IndexByte(p[pos:], '/'); i >= 0 {
		end = pos + i
	}
	return p[pos:end], end
}

// openDir opens the directory p (clean, relative, "." for the root) without changing
// the stack, starting from the deepest open level of it there: the caller closes fd.
// found is false when p does not exist; a symlink on the way is refused.
func (a *applier) openDir(p string) (fd int, found bool, err error) {
	if p == "." {
		p = ""
	}
	s := &a.stack
	k := s.common(p)
	if k < s.opened {
		k = 0
	}
	cur, own := s.levels[k].fd, false
	for pos := s.levels[k].end; pos < len(p); {
		comp, end := nextName(p, pos)
		next, found, err := a.child(cur, comp, p[:end], false)
		if own {
			unix.Close(cur)
		}
		if err != nil || !found {
			return -1, false, err
		}
		cur, own, pos = next, true, end
	}
	if !own {
		if cur, err = unix.FcntlInt(uintptr(cur), unix.F_DUPFD_CLOEXEC, 0); err != nil {
			return -1, false, err
		}
	}
	return cur, true, nil
}

// child opens the directory comp of dirfd, prefix being its name in the layer. With
// create, it is created if missing, or if a whiteout marks it deleted (then empty and
// opaque, as Docker recreates it); without, found is false when it is missing.
func (a *applier) child(dirfd int, comp, prefix string, create bool) (fd int, found bool, err error) {
	fd, err = unix.Openat(dirfd, comp, dirFlags, 0)
	switch {
	case err == nil:
		return fd, true, nil
	case errors.Is(err, unix.ENOENT) && create:
		fd, err = implicitDir(dirfd, comp)
		return fd, err == nil, err
	case errors.Is(err, unix.ENOENT):
		return -1, false, nil
	case !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.ENOTDIR):
		return -1, false, fmt.Errorf("parent %s: %w", quote(prefix), err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, comp, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return -1, false, fmt.Errorf("parent %s: %w", quote(prefix), err)
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return -1, false, unsafe("parent %s is a symlink", quote(prefix))
	case isWhiteout(&st) && create:
		// Deleted earlier in this layer, then written into: Docker recreates the
		// directory empty, which over lower layers is an opaque directory.
		if err := unix.Unlinkat(dirfd, comp, 0); err != nil {
			return -1, false, fmt.Errorf("replace whiteout %s: %w", quote(prefix), err)
		}
		if fd, err = implicitDir(dirfd, comp); err == nil {
			if err = setOpaque(fd); err != nil {
				unix.Close(fd)
			}
		}
		return fd, err == nil, err
	case isWhiteout(&st):
		return -1, false, unsafe("parent %s was deleted by a whiteout", quote(prefix))
	case isDir(&st):
		return -1, false, fmt.Errorf("parent %s: %w", quote(prefix), errChanged)
	}
	return -1, false, unsafe("parent %s is not a directory", quote(prefix))
}

// create makes e with mk. If an earlier entry left something there, it is removed and
// mk tried again: the later entry wins. It reports whether what it replaced was a whiteout.
func (a *applier) create(e at, mk func() error) (replacedWhiteout bool, err error) {
	a.forgetLink(e.name)
	if err = mk(); !errors.Is(err, unix.EEXIST) {
		return false, err
	}
	if replacedWhiteout, err = a.remove(e); err != nil {
		return false, fmt.Errorf("replace earlier entry: %w", err)
	}
	return replacedWhiteout, mk()
}

// remove deletes e, a directory with all it holds, and forgets what is recorded about it.
// e is never on the stack: it is an entry of the stack's top.
func (a *applier) remove(e at) (whiteout bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstatat(e.dir, e.base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false, err
	}
	if !isDir(&st) {
		return isWhiteout(&st), unix.Unlinkat(e.dir, e.base, 0)
	}
	prefix := e.name + "/"
	for k := range a.linkIdx {
		if strings.HasPrefix(k, prefix) {
			a.forgetLink(k)
		}
	}
	return false, removeAll(e.dir, e.base, a.forgetTimes)
}

func (a *applier) forgetLink(name string) {
	if i, ok := a.linkIdx[name]; ok {
		a.links[i].Name = ""
		delete(a.linkIdx, name)
	}
}

func (a *applier) pendingLinks() []Link {
	var out []Link
	for _, l := range a.links {
		if l.Name != "" {
			out = append(out, l)
		}
	}
	return out
}

func (a *applier) regular(e at, hdr *tar.Header, r io.Reader) (retErr error) {
	if hdr.Size > a.maxLogical-a.size {
		return unsafe("apparent size of the layer's files exceeds the limit of %d bytes", a.maxLogical)
	}
	fd := -1
	_, err := a.create(e, func() (err error) {
		fd, err = unix.Openat(e.dir, e.base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	defer func() {
		if err := unix.Close(fd); err != nil && retErr == nil {
			retErr = fmt.Errorf("close file: %w", err)
		}
	}()
	if err := a.copySparse(fd, r, hdr.Size); err != nil {
		return err
	}
	a.size += hdr.Size
	if err := setMetaFD(fd, hdr); err != nil {
		return err
	}
	ts := timespecs(hdr)
	if err := futimens(fd, &ts); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// directory makes e a directory, keeping an existing one (it only gets new metadata)
// and replacing anything else, and enters it: what follows in the tar is most often
// inside it.
func (a *applier) directory(e at, hdr *tar.Header) error {
	err := unix.Mkdirat(e.dir, e.base, 0o700)
	created := err == nil
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create directory: %w", err)
	}
	fd, err := unix.Openat(e.dir, e.base, dirFlags, 0)
	if err != nil && !created {
		fd, err = a.replaceWithDir(e, err)
		created = err == nil
	}
	if err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	if created {
		a.forgetLink(e.name)
	}
	if err := a.stack.push(e.base, fd); err != nil {
		return err
	}
	return a.setDirMeta(a.stack.topLevel(), hdr)
}

// replaceWithDir replaces e, which openErr says is not a directory, by a new one.
func (a *applier) replaceWithDir(e at, openErr error) (int, error) {
	if !errors.Is(openErr, unix.ELOOP) && !errors.Is(openErr, unix.ENOTDIR) {
		return -1, openErr
	}
	wasWhiteout, err := a.remove(e)
	if err != nil {
		return -1, err
	}
	if err := unix.Mkdirat(e.dir, e.base, 0o700); err != nil {
		return -1, err
	}
	fd, err := unix.Openat(e.dir, e.base, dirFlags, 0)
	if err == nil && wasWhiteout {
		// Deleted, then recreated: hide the lower layers' copy.
		if err = setOpaque(fd); err != nil {
			unix.Close(fd)
		}
	}
	return fd, err
}

// setDirMeta applies hdr to the directory l and records its times, set when l is
// closed.
func (a *applier) setDirMeta(l *level, hdr *tar.Header) error {
	if err := setMetaFD(l.fd, hdr); err != nil {
		return err
	}
	if err := l.identify(); err != nil {
		return err
	}
	a.times[[2]uint64{l.dev, l.ino}] = timespecs(hdr)
	return nil
}

func (a *applier) symlink(e at, hdr *tar.Header) error {
	if _, err := a.create(e, func() error { return unix.Symlinkat(hdr.Linkname, e.dir, e.base) }); err != nil {
		return fmt.Errorf("create symlink: %w", err)
	}
	return a.setMetaAt(e, hdr)
}

func (a *applier) device(e at, hdr *tar.Header) error {
	mode := uint32(unix.S_IFIFO)
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	}
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	if _, err := a.create(e, func() error { return unix.Mknodat(e.dir, e.base, mode|0o600, dev) }); err != nil {
		return fmt.Errorf("create device: %w", err)
	}
	return a.setMetaAt(e, hdr)
}

// setMetaAt applies hdr's metadata and times to e, a symlink or device just created.
func (a *applier) setMetaAt(e at, hdr *tar.Header) error {
	if err := setMetaAt(e.dir, e.base, a.xattrPath(e.name, e.dir, e.base), hdr); err != nil {
		return err
	}
	ts := timespecs(hdr)
	if err := unix.UtimesNanoAt(e.dir, e.base, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// hardlink links e to an earlier entry of this layer, or records a pending link when
// the target is not in this layer. The link shares the target's inode, so the header's
// metadata is not applied: it could change a file in an immutable lower layer.
func (a *applier) hardlink(e at, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink target %s: %w", quote(hdr.Linkname), err)
	}
	if target == e.name {
		return nil
	}
	if target == "." {
		return unsafe("hardlink target %s is the layer root", quote(hdr.Linkname))
	}
	tdir, found, err := a.openDir(path.Dir(target))
	if err != nil {
		return fmt.Errorf("hardlink target %s: %w", quote(hdr.Linkname), err)
	}
	if !found {
		return a.pendingLink(e, target)
	}
	defer unix.Close(tdir)
	tbase := path.Base(target)
	var st unix.Stat_t
	err = unix.Fstatat(tdir, tbase, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT):
		return a.pendingLink(e, target)
	case err != nil:
		return fmt.Errorf("hardlink target %s: %w", quote(hdr.Linkname), err)
	case isDir(&st):
		return unsafe("hardlink target %s is a directory", quote(hdr.Linkname))
	case isWhiteout(&st):
		return unsafe("hardlink target %s was deleted by a whiteout", quote(hdr.Linkname))
	}
	if _, err := a.create(e, func() error { return unix.Linkat(tdir, tbase, e.dir, e.base, 0) }); err != nil {
		return fmt.Errorf("create hardlink: %w", err)
	}
	return nil
}

func (a *applier) pendingLink(e at, target string) error {
	a.forgetLink(e.name)
	if _, err := a.remove(e); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("replace earlier entry: %w", err)
	}
	a.linkIdx[e.name] = len(a.links)
	a.links = append(a.links, Link{Name: e.name, Target: target})
	return nil
}

// whiteout converts a ".wh." entry in directory parent to its overlayfs form.
func (a *applier) whiteout(parent, base string) error {
	if strings.HasPrefix(base, whiteoutMeta) && base != whiteoutOpaque {
		return nil // other whiteout metadata (AUFS hardlink dirs...) means nothing here
	}
	dirfd, _, err := a.enter(parent, true)
	if err != nil {
		return err
	}
	if base == whiteoutOpaque {
		return setOpaque(dirfd)
	}
	victim := strings.TrimPrefix(base, whiteoutPrefix)
	if victim == "" || victim == "." || victim == ".." {
		return unsafe("whiteout of %s would delete the directory itself or its parent", quote(victim))
	}
	e := at{dir: dirfd, name: path.Join(parent, victim), base: victim}
	if _, err := a.create(e, func() error { return unix.Mknodat(dirfd, victim, unix.S_IFCHR, 0) }); err != nil {
		return fmt.Errorf("create whiteout: %w", err)
	}
	if err := unix.Fchownat(dirfd, victim, 0, 0, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown whiteout: %w", err)
	}
	return nil
}
