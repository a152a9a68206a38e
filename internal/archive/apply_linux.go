package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
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
// Hostile entries are refused with an error naming the entry and wrapping ErrUnsafe;
// nothing is ever written outside dir. After the tar's end Apply reads r to EOF, so a
// digest verifier wrapping r sees the whole stream. Apply does not fsync; the caller
// syncs the filesystem before recording the layer. On error dir holds a partial layer
// that the caller removes. ctx is checked between entries and every MiB of a file.
func Apply(ctx context.Context, dir string, r io.Reader, opts Options) (Result, error) {
	bufp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bufp)
	a := newApplier(dir)
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
	if err := a.setDirTimes(); err != nil {
		return Result{}, err
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
// an earlier entry), not against other writers.
type applier struct {
	ctx        context.Context
	root       string
	max        int64 // bound on written
	maxLogical int64 // bound on size
	size       int64 // apparent size of the regular files so far
	written    int64 // bytes of it written, the rest being holes
	buf        []byte
	// dirs holds the paths known to be real directories (never symlinks) in the layer.
	// Only remove takes paths out, so a parent in dirs needs no further check.
	dirs    map[string]struct{}
	times   map[string][2]unix.Timespec // directory entries, whose times are set last
	links   []Link                      // pending links; Name "" marks one a later entry replaced
	linkIdx map[string]int
}

func newApplier(root string) *applier {
	return &applier{
		ctx:     context.Background(),
		root:    root,
		dirs:    map[string]struct{}{".": {}},
		times:   map[string][2]unix.Timespec{},
		linkIdx: map[string]int{},
	}
}

// abs returns the host path of name, a clean path relative to the layer root.
func (a *applier) abs(name string) string {
	if name == "." {
		return a.root
	}
	return a.root + "/" + name
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
		return a.setDirMeta(name, hdr)
	}
	if _, err := a.dir(parent, true); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return a.directory(name, hdr)
	case tar.TypeSymlink:
		return a.symlink(name, hdr)
	case tar.TypeLink:
		return a.hardlink(name, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return a.device(name, hdr)
	default:
		return a.regular(name, hdr, r)
	}
}

// dir makes sure name is a real directory in the layer. With create, it creates name and
// its missing parents (0755, root); without, it reports false when name does not exist.
// A symlink on the way is refused: following it could lead outside the layer.
func (a *applier) dir(name string, create bool) (bool, error) {
	var todo []string
	for p := name; ; p = path.Dir(p) {
		if _, ok := a.dirs[p]; ok {
			break // "." is always there
		}
		todo = append(todo, p)
	}
	for i := len(todo) - 1; i >= 0; i-- {
		ok, err := a.checkDir(todo[i], create)
		if err != nil || !ok {
			return false, err
		}
		a.dirs[todo[i]] = struct{}{}
	}
	return true, nil
}

func (a *applier) checkDir(name string, create bool) (bool, error) {
	p := a.abs(name)
	var st unix.Stat_t
	err := unix.Lstat(p, &st)
	switch {
	case err == nil && isDir(&st):
		return true, nil
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return false, unsafe("parent %s is a symlink", quote(name))
	case err == nil && isWhiteout(&st) && create:
		// Deleted earlier in this layer, then written into: Docker recreates the
		// directory empty, which over lower layers is an opaque directory.
		if err := unix.Unlink(p); err != nil {
			return false, fmt.Errorf("replace whiteout %s: %w", quote(name), err)
		}
		if err := implicitDir(p); err != nil {
			return false, err
		}
		return true, setOpaque(p)
	case err == nil && isWhiteout(&st):
		return false, unsafe("parent %s was deleted by a whiteout", quote(name))
	case err == nil:
		return false, unsafe("parent %s is not a directory", quote(name))
	case errors.Is(err, unix.ENOENT) && create:
		return true, implicitDir(p)
	case errors.Is(err, unix.ENOENT):
		return false, nil
	}
	return false, fmt.Errorf("parent %s: %w", quote(name), err)
}

// create makes name with mk. If an earlier entry left something there, it is removed and
// mk tried again: the later entry wins. It reports whether what it replaced was a whiteout.
func (a *applier) create(name string, mk func(p string) error) (replacedWhiteout bool, err error) {
	a.forgetLink(name)
	p := a.abs(name)
	if err = mk(p); !errors.Is(err, unix.EEXIST) {
		return false, err
	}
	if replacedWhiteout, err = a.remove(name); err != nil {
		return false, fmt.Errorf("replace earlier entry: %w", err)
	}
	return replacedWhiteout, mk(p)
}

// remove deletes name, a directory with all it holds, and forgets what is cached about it.
func (a *applier) remove(name string) (whiteout bool, err error) {
	p := a.abs(name)
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return false, err
	}
	if !isDir(&st) {
		return isWhiteout(&st), unix.Unlink(p)
	}
	delete(a.dirs, name)
	delete(a.times, name)
	prefix := name + "/"
	for k := range a.dirs {
		if strings.HasPrefix(k, prefix) {
			delete(a.dirs, k)
		}
	}
	for k := range a.times {
		if strings.HasPrefix(k, prefix) {
			delete(a.times, k)
		}
	}
	for k := range a.linkIdx {
		if strings.HasPrefix(k, prefix) {
			a.forgetLink(k)
		}
	}
	return false, shortPathErr(os.RemoveAll(p))
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

func (a *applier) regular(name string, hdr *tar.Header, r io.Reader) (retErr error) {
	if hdr.Size > a.maxLogical-a.size {
		return unsafe("apparent size of the layer's files exceeds the limit of %d bytes", a.maxLogical)
	}
	fd := -1
	_, err := a.create(name, func(p string) (err error) {
		fd, err = unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
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
	p := a.abs(name)
	if err := setMeta(p, fd, hdr); err != nil {
		return err
	}
	return setTimes(p, hdr)
}

func (a *applier) directory(name string, hdr *tar.Header) error {
	if _, ok := a.dirs[name]; !ok {
		a.forgetLink(name)
		p := a.abs(name)
		err := unix.Mkdir(p, 0o700)
		if errors.Is(err, unix.EEXIST) {
			err = a.replaceWithDir(name, p)
		}
		if err != nil {
			return fmt.Errorf("create directory: %w", err)
		}
		a.dirs[name] = struct{}{}
	}
	return a.setDirMeta(name, hdr)
}

// replaceWithDir makes the existing entry name a directory: an existing directory is kept
// (it only gets new metadata), anything else is replaced by a new one.
func (a *applier) replaceWithDir(name, p string) error {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil || isDir(&st) {
		return err
	}
	wasWhiteout, err := a.remove(name)
	if err != nil {
		return err
	}
	if err := unix.Mkdir(p, 0o700); err != nil {
		return err
	}
	if wasWhiteout {
		return setOpaque(p) // deleted, then recreated: hide the lower layers' copy
	}
	return nil
}

func (a *applier) setDirMeta(name string, hdr *tar.Header) error {
	if err := setMeta(a.abs(name), -1, hdr); err != nil {
		return err
	}
	a.times[name] = timespecs(hdr)
	return nil
}

// setDirTimes sets the directory entries' times, deepest first, now that nothing more
// will be written inside them.
func (a *applier) setDirTimes() error {
	names := make([]string, 0, len(a.times))
	for name := range a.times {
		names = append(names, name)
	}
	depth := func(name string) int {
		if name == "." {
			return -1
		}
		return strings.Count(name, "/")
	}
	slices.SortFunc(names, func(x, y string) int { return depth(y) - depth(x) })
	for _, name := range names {
		ts := a.times[name]
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, a.abs(name), ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("layer entry %s: set times: %w", quote(name), err)
		}
	}
	return nil
}

func (a *applier) symlink(name string, hdr *tar.Header) error {
	if _, err := a.create(name, func(p string) error { return unix.Symlink(hdr.Linkname, p) }); err != nil {
		return fmt.Errorf("create symlink: %w", err)
	}
	p := a.abs(name)
	if err := setMeta(p, -1, hdr); err != nil {
		return err
	}
	return setTimes(p, hdr)
}

func (a *applier) device(name string, hdr *tar.Header) error {
	mode := uint32(unix.S_IFIFO)
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	}
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	if _, err := a.create(name, func(p string) error { return unix.Mknod(p, mode|0o600, dev) }); err != nil {
		return fmt.Errorf("create device: %w", err)
	}
	p := a.abs(name)
	if err := setMeta(p, -1, hdr); err != nil {
		return err
	}
	return setTimes(p, hdr)
}

// hardlink links name to an earlier entry of this layer, or records a pending link when
// the target is not in this layer. The link shares the target's inode, so the header's
// metadata is not applied: it could change a file in an immutable lower layer.
func (a *applier) hardlink(name string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink target %s: %w", quote(hdr.Linkname), err)
	}
	if target == name {
		return nil
	}
	if target == "." {
		return unsafe("hardlink target %s is the layer root", quote(hdr.Linkname))
	}
	found, err := a.dir(path.Dir(target), false)
	if err != nil {
		return fmt.Errorf("hardlink target %s: %w", quote(hdr.Linkname), err)
	}
	var st unix.Stat_t
	if found {
		err = unix.Lstat(a.abs(target), &st)
	}
	if !found || errors.Is(err, unix.ENOENT) {
		return a.pendingLink(name, target)
	}
	switch {
	case err != nil:
		return fmt.Errorf("hardlink target %s: %w", quote(hdr.Linkname), err)
	case isDir(&st):
		return unsafe("hardlink target %s is a directory", quote(hdr.Linkname))
	case isWhiteout(&st):
		return unsafe("hardlink target %s was deleted by a whiteout", quote(hdr.Linkname))
	}
	src := a.abs(target)
	if _, err := a.create(name, func(p string) error { return unix.Link(src, p) }); err != nil {
		return fmt.Errorf("create hardlink: %w", err)
	}
	return nil
}

func (a *applier) pendingLink(name, target string) error {
	a.forgetLink(name)
	if _, err := a.remove(name); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("replace earlier entry: %w", err)
	}
	a.linkIdx[name] = len(a.links)
	a.links = append(a.links, Link{Name: name, Target: target})
	return nil
}

// whiteout converts a ".wh." entry in directory parent to its overlayfs form.
func (a *applier) whiteout(parent, base string) error {
	if strings.HasPrefix(base, whiteoutMeta) && base != whiteoutOpaque {
		return nil // other whiteout metadata (AUFS hardlink dirs...) means nothing here
	}
	if _, err := a.dir(parent, true); err != nil {
		return err
	}
	if base == whiteoutOpaque {
		return setOpaque(a.abs(parent))
	}
	victim := strings.TrimPrefix(base, whiteoutPrefix)
	if victim == "" || victim == "." || victim == ".." {
		return unsafe("whiteout of %s would delete the directory itself or its parent", quote(victim))
	}
	name := path.Join(parent, victim)
	mk := func(p string) error { return unix.Mknod(p, unix.S_IFCHR, 0) }
	if _, err := a.create(name, mk); err != nil {
		return fmt.Errorf("create whiteout: %w", err)
	}
	if err := unix.Lchown(a.abs(name), 0, 0); err != nil {
		return fmt.Errorf("chown whiteout: %w", err)
	}
	return nil
}
