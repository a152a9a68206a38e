package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The writer side: directory trees (a layer directory, an overlayfs upper directory, a
// merged view of several layers) become tar streams. Every function walks in sorted order
// and writes no access or change times, so the same tree always gives the same bytes.

const whiteoutXattr = "trusted.overlay.whiteout" // newer kernels' whiteout: an empty file with it

// node is one entry of a tree being written, reached by descriptor (see fdwalk_linux.go).
// dirs lists, top first, the directories whose contents make up a directory node (one
// for a plain tree, several for a merged view).
type node struct {
	at   ref // the entry itself; at.name is its name in its directory
	st   unix.Stat_t
	dirs []ref
}

// lister returns the entries of a directory node, sorted by name, given its dirs opened.
type lister func(fds []int) ([]node, error)

// treeWriter writes nodes as tar entries.
type treeWriter struct {
	tw    *tar.Writer
	links map[[2]uint64]string // dev, inode -> name of the first entry written for it
	buf   []byte
	list  lister
	diff  bool            // an overlayfs upper dir: whiteouts and opaque dirs become .wh. entries
	skip  map[string]bool // tar names left out, with what is below them
}

func newTreeWriter(w io.Writer, list lister, diff bool) *treeWriter {
	return &treeWriter{tw: tar.NewWriter(w), links: map[[2]uint64]string{}, list: list, diff: diff}
}

// WriteTree writes the directory tree dir as an uncompressed tar, entries named relative
// to dir (the root itself is not an entry). Owners, modes, nanosecond mtimes, xattrs
// (security.capability and user.*), devices, fifos, symlinks and hardlinks (files sharing
// an inode) are kept; sockets are skipped. Nothing is interpreted: a 0:0 character device
// is written as a device.
func WriteTree(ctx context.Context, w io.Writer, dir string) error {
	return writeRoot(ctx, w, []string{dir}, plainList, false)
}

// WriteDiff writes an overlayfs upper directory as an OCI layer tar: whiteouts (0:0
// character devices, or empty files carrying trusted.overlay.whiteout) become ".wh.NAME"
// entries, directories marked trusted.overlay.opaque=y are followed by a
// ".wh..wh..opq" entry, and overlayfs's own xattrs are never written. Apply turns the tar
// back into the same upper directory.
//
// exclude names paths (relative to upper, clean) left out with what is below them: the
// mount points a runtime created in the upper dir, which are not the container's changes.
//
// upper must not change while it is written (the container is stopped or paused). An
// upper dir made with overlayfs's redirect_dir or metacopy features (off by default) is
// refused: its renamed directories and metadata-only copies cannot be a layer.
func WriteDiff(ctx context.Context, w io.Writer, upper string, exclude ...string) error {
	return writeRoot(ctx, w, []string{upper}, plainList, true, exclude...)
}

func writeRoot(ctx context.Context, w io.Writer, dirs []string, list lister, diff bool, exclude ...string) error {
	fds, err := openRoots(dirs)
	if err != nil {
		return fmt.Errorf("write tree: %w", err)
	}
	defer closeAll(fds)
	root, err := rootNode(fds)
	if err != nil {
		return fmt.Errorf("write tree %s: %w", dirs[0], err)
	}
	t := newTreeWriter(w, list, diff)
	for _, e := range exclude {
		if t.skip == nil {
			t.skip = map[string]bool{}
		}
		t.skip[e] = true
	}
	bufp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bufp)
	t.buf = *bufp
	if err := t.children(ctx, &root, ""); err != nil {
		return err
	}
	return t.tw.Close()
}

// plainList lists one directory.
func plainList(fds []int) ([]node, error) {
	names, err := readNames(fds[0])
	if err != nil {
		return nil, err
	}
	nodes := make([]node, 0, len(names))
	for _, name := range names {
		c := node{at: ref{dir: fds[0], name: name}}
		if err := c.at.stat(&c.st); err != nil {
			return nil, err
		}
		if isDir(&c.st) {
			c.dirs = []ref{c.dirRef()}
		}
		nodes = append(nodes, c)
	}
	return nodes, nil
}

// dirRef is n as a directory to open: checked to be the one listed.
func (n *node) dirRef() ref {
	r := n.at
	r.dev, r.ino = n.st.Dev, n.st.Ino
	return r
}

// children writes the entries below n, whose tar name is prefix ("" for the root).
func (t *treeWriter) children(ctx context.Context, n *node, prefix string) error {
	display := prefix
	if display == "" {
		display = "."
	}
	fds, err := openDirs(n.dirs)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", display, err)
	}
	defer closeAll(fds)
	nodes, err := t.list(fds)
	if err != nil {
		return fmt.Errorf("read directory %s: %w", display, err)
	}
	for i := range nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := path.Join(prefix, nodes[i].at.name)
		if t.skip[name] {
			continue
		}
		if err := t.entry(ctx, &nodes[i], name); err != nil {
			return err
		}
	}
	return nil
}

// entry writes n (and what is below it) under the tar name name.
func (t *treeWriter) entry(ctx context.Context, n *node, name string) error {
	if t.diff && isWhiteoutNode(n) {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg, Name: path.Join(path.Dir(name), whiteoutPrefix+path.Base(name)),
			ModTime: time.Unix(0, 0), Format: tar.FormatPAX, // a marker: no time of its own
		}
		return t.tw.WriteHeader(hdr)
	}
	hdr, err := t.header(n, name)
	if err != nil || hdr == nil {
		return err
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
		return t.content(n, name, hdr.Size)
	case tar.TypeDir:
		if t.diff && isOpaqueDir(n.at.xattrPath()) {
			opq := &tar.Header{Typeflag: tar.TypeReg, Name: name + "/" + whiteoutOpaque, ModTime: hdr.ModTime, Format: tar.FormatPAX}
			if err := t.tw.WriteHeader(opq); err != nil {
				return err
			}
		}
		return t.children(ctx, n, name)
	}
	return nil
}

// header makes the tar header of n; nil for what tar cannot hold (sockets).
func (t *treeWriter) header(n *node, name string) (*tar.Header, error) {
	st := &n.st
	hdr := &tar.Header{
		Name: name, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: mtimeOf(st), Format: tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		key := [2]uint64{st.Dev, st.Ino}
		if st.Nlink > 1 {
			if first, ok := t.links[key]; ok {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
				return hdr, nil
			}
			t.links[key] = name
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	case unix.S_IFDIR:
		hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
	case unix.S_IFLNK:
		target, err := n.at.readlink()
		if err != nil {
			return nil, fmt.Errorf("read symlink %s: %w", name, err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil, nil
	}
	xattrs, err := t.readXattrs(n.at.xattrPath(), name)
	if err != nil {
		return nil, err
	}
	for k, v := range xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+k] = v
	}
	return hdr, nil
}

// content copies size bytes of the file n. A file that changed size meanwhile is an
// error rather than a corrupt tar.
func (t *treeWriter) content(n *node, name string, size int64) error {
	f, err := n.dirRef().openFile()
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	got, err := io.CopyBuffer(t.tw, io.LimitReader(f, size), t.buf)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if got != size {
		return fmt.Errorf("write %s: file shrank from %d to %d bytes while read", name, size, got)
	}
	return nil
}

func mtimeOf(st *unix.Stat_t) time.Time { return time.Unix(st.Mtim.Sec, st.Mtim.Nsec) }

// keepXattr says which xattrs belong in a tar: file capabilities and user xattrs, never
// overlayfs's own (they describe the overlay, not the file) nor other trusted.* or
// security.* ones (SELinux labels belong to the host).
func keepXattr(key string) bool {
	if overlayXattr(key) {
		return false
	}
	return key == "security.capability" || strings.HasPrefix(key, "user.")
}

// readXattrs returns the xattrs worth writing (see keepXattr) of the entry name, at p
// (a ref's xattrPath).
func (t *treeWriter) readXattrs(p, name string) (map[string]string, error) {
	keys, err := listXattrs(p, name)
	if err != nil {
		return nil, err
	}
	var out map[string]string
	for _, k := range keys {
		if t.diff && (k == "trusted.overlay.redirect" || k == "trusted.overlay.metacopy") {
			return nil, fmt.Errorf("%s has %s: overlayfs redirect_dir/metacopy upper dirs cannot be written as a layer: %w", name, k, errors.ErrUnsupported)
		}
		if !keepXattr(k) {
			continue
		}
		v, err := getXattr(p, k)
		if errors.Is(err, unix.ENODATA) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("xattr %s of %s: %w", k, name, err)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = string(v)
	}
	return out, nil
}

func listXattrs(p, name string) ([]string, error) {
	for size := 256; ; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Llistxattr(p, buf)
		if errors.Is(err, unix.ERANGE) && size < 1<<20 {
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list xattrs of %s: %w", name, err)
		}
		var keys []string
		for _, k := range strings.Split(string(buf[:n]), "\x00") {
			if k != "" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		return keys, nil
	}
}

func getXattr(p, key string) ([]byte, error) {
	for size := 256; ; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Lgetxattr(p, key, buf)
		if errors.Is(err, unix.ERANGE) && size < 1<<20 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// isWhiteoutNode reports whether n is an overlayfs whiteout, in either form.
func isWhiteoutNode(n *node) bool {
	if isWhiteout(&n.st) {
		return true
	}
	if n.st.Mode&unix.S_IFMT != unix.S_IFREG || n.st.Size != 0 {
		return false
	}
	_, err := unix.Lgetxattr(n.at.xattrPath(), whiteoutXattr, nil)
	return err == nil
}

// isOpaqueDir reports whether the directory at p (a ref's xattrPath) is opaque.
func isOpaqueDir(p string) bool {
	buf := make([]byte, 4)
	n, err := unix.Lgetxattr(p, opaqueXattr, buf)
	return err == nil && n == 1 && buf[0] == 'y'
}
