package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// The merged view of overlayfs layers, computed without mounting them: a container's
// upper directory over its image's snapshots reads the way the container sees its root
// (volumes and the mounts hull adds at start excepted). Export, cp and diff use it, so
// they work the same on a running and a stopped container and never leave a mount
// behind.

// unionList lists a directory of the merged view, given its directories opened (top
// first): the first layer that has a name wins, whiteouts hide the name in the layers
// below, and a directory is the union of the directories of that name down to the first
// opaque one (or the first non-directory).
func unionList(fds []int) ([]node, error) {
	seen := map[string]bool{}
	var nodes []node
	for i, fd := range fds {
		names, err := readNames(fd)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			if seen[name] {
				continue
			}
			seen[name] = true
			c := node{at: ref{dir: fd, name: name}}
			if err := c.at.stat(&c.st); err != nil {
				return nil, err
			}
			if isWhiteoutNode(&c) {
				continue
			}
			if isDir(&c.st) {
				c.dirs = mergedDirs(c.dirRef(), fds[i+1:])
			}
			nodes = append(nodes, c)
		}
	}
	slices.SortFunc(nodes, func(a, b node) int { return strings.Compare(a.at.name, b.at.name) })
	return nodes, nil
}

// mergedDirs returns top, then the directories of its name in lowers (the layers below
// it, opened) that show through it: down to an opaque directory, a whiteout or a
// non-directory.
func mergedDirs(top ref, lowers []int) []ref {
	dirs := []ref{top}
	if isOpaqueDir(top.xattrPath()) {
		return dirs
	}
	for _, l := range lowers {
		r := ref{dir: l, name: top.name}
		var st unix.Stat_t
		if err := r.stat(&st); err != nil {
			continue // absent here: look further down
		}
		if !isDir(&st) {
			break
		}
		r.dev, r.ino = st.Dev, st.Ino
		dirs = append(dirs, r)
		if isOpaqueDir(r.xattrPath()) {
			break
		}
	}
	return dirs
}

// step finds name in the merged directory whose layers fds holds (top first); ok is
// false when it is absent or whited out.
func step(fds []int, name string) (n node, ok bool, err error) {
	for i, fd := range fds {
		c := node{at: ref{dir: fd, name: name}}
		err := c.at.stat(&c.st)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			continue
		}
		if err != nil {
			return node{}, false, err
		}
		if isWhiteoutNode(&c) {
			return node{}, false, nil
		}
		if isDir(&c.st) {
			c.dirs = mergedDirs(c.dirRef(), fds[i+1:])
		}
		return c, true, nil
	}
	return node{}, false, nil
}

// lookup returns the node at rel (clean, relative, "." for the root) without following
// symlinks, going down one directory descriptor at a time; ok is false when rel does
// not exist in the view. The node refers to open directories: release closes them, also
// when ok is false or err is not nil.
func (u Union) lookup(rel string) (n node, release func(), ok bool, err error) {
	cur, err := openRoots(u.Layers)
	if err != nil {
		return node{}, func() {}, false, err
	}
	release = func() { closeAll(cur) }
	if n, err = rootNode(cur); err != nil || rel == "." {
		return n, release, err == nil, err
	}
	for i, part := range strings.Split(rel, "/") {
		if i > 0 {
			if !isDir(&n.st) {
				return node{}, release, false, nil
			}
			next, err := openDirs(n.dirs)
			if errors.Is(err, unix.ENOENT) {
				return node{}, release, false, nil
			}
			if err != nil {
				return node{}, release, false, err
			}
			closeAll(cur)
			cur = next
		}
		if n, ok, err = step(cur, part); err != nil || !ok {
			return node{}, release, false, err
		}
	}
	return n, release, true, nil
}

// Resolve resolves p, a path inside the view's root, to a clean relative path with no
// symlink in it, following symlinks the way the container would but never above the
// root (a ".." or an absolute target stops at the root, as with RESOLVE_IN_ROOT). With
// followLast false a final symlink is kept, as `docker cp` does. A missing component
// returns an error wrapping fs.ErrNotExist.
func (u Union) Resolve(p string, followLast bool) (string, error) {
	rest := strings.Split(strings.Trim(p, "/"), "/")
	cur := "."
	for hops := 0; len(rest) > 0; {
		part := rest[0]
		rest = rest[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, part)
		target, isLink, err := u.linkAt(next)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p, err)
		}
		if !isLink || (len(rest) == 0 && !followLast) {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: %w", p, unix.ELOOP)
		}
		if strings.HasPrefix(target, "/") {
			cur = "."
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return cur, nil
}

// IsDir reports whether rel (as Resolve returns it) exists in the view and is a
// directory (a symlink is not followed).
func (u Union) IsDir(rel string) (exists, dir bool, err error) {
	n, release, ok, err := u.lookup(rel)
	defer release()
	if err != nil || !ok {
		return false, false, err
	}
	return true, isDir(&n.st), nil
}

// linkAt returns the target of rel if it is a symlink; a missing rel wraps
// fs.ErrNotExist.
func (u Union) linkAt(rel string) (target string, isLink bool, err error) {
	n, release, ok, err := u.lookup(rel)
	defer release()
	if err != nil {
		return "", false, err
	}
	if !ok {
		return "", false, os.ErrNotExist
	}
	if n.st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return "", false, nil
	}
	target, err = n.at.readlink()
	return target, err == nil, err
}

// WriteTar writes the subtree at rel (as Resolve returns it) as an uncompressed tar, like
// WriteTree. With base "" the entries are named relative to rel (rel must be a
// directory, which is not an entry itself: an export); otherwise rel itself is the entry
// base and what it holds is below it (a `docker cp`).
func (u Union) WriteTar(ctx context.Context, w io.Writer, rel, base string) error {
	n, release, ok, err := u.lookup(rel)
	defer release()
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %w", rel, os.ErrNotExist)
	}
	t := newTreeWriter(w, unionList, false)
	bufp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bufp)
	t.buf = *bufp
	if base == "" {
		if !isDir(&n.st) {
			return fmt.Errorf("%s: %w", rel, unix.ENOTDIR)
		}
		err = t.children(ctx, &n, "")
	} else {
		err = t.entry(ctx, &n, base)
	}
	if err != nil {
		return err
	}
	return t.tw.Close()
}

// Changes compares an overlayfs upper directory with the layers below it (top first)
// and lists what it adds, modifies and deletes, sorted by path. A directory is Modified
// when it existed below, unless it is in upper only to hold excluded paths and kept its
// mode and owner; an opaque directory also reports the lower entries it hides as
// Deleted. exclude is as for WriteDiff.
func Changes(ctx context.Context, upper string, lowers []string, exclude ...string) ([]Change, error) {
	if len(lowers) == 0 {
		return nil, errors.New("changes: no lower layers")
	}
	w := &changeWalker{ctx: ctx, skip: map[string]bool{}}
	for _, e := range exclude {
		w.skip[e] = true
	}
	fds, err := openRoots(append([]string{upper}, lowers...))
	if err != nil {
		return nil, fmt.Errorf("changes: %w", err)
	}
	defer closeAll(fds)
	if err := w.walk(fds[0], fds[1:], "."); err != nil {
		return nil, fmt.Errorf("changes in %s: %w", upper, err)
	}
	sort.Slice(w.out, func(i, j int) bool { return w.out[i].Path < w.out[j].Path })
	return w.out, nil
}

// changeWalker walks an upper directory and, beside it, the merged view of the layers
// below at the same path, both by descriptor.
type changeWalker struct {
	ctx  context.Context
	skip map[string]bool
	out  []Change
}

// walk lists the changes in the upper directory dir, at rel; below holds the merged
// lower directories at rel, opened (none if rel is new).
func (w *changeWalker) walk(dir int, below []int, rel string) error {
	names, err := readNames(dir)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, name := range names {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		present[name] = true
		if err := w.entry(ref{dir: dir, name: name}, below, path.Join(rel, name)); err != nil {
			return err
		}
	}
	if rel == "." || len(below) == 0 || !fdOpaque(dir) {
		return nil
	}
	hidden, err := unionList(below)
	if err != nil {
		return err
	}
	for _, n := range hidden {
		if !present[n.at.name] {
			w.out = append(w.out, Change{Deleted, "/" + path.Join(rel, n.at.name)})
		}
	}
	return nil
}

// entry records the change of the upper entry at (rel), and walks it if a directory.
func (w *changeWalker) entry(at ref, below []int, rel string) error {
	if w.skip[rel] {
		return nil
	}
	c := node{at: at}
	if err := at.stat(&c.st); err != nil {
		return err
	}
	if isWhiteoutNode(&c) {
		w.out = append(w.out, Change{Deleted, "/" + rel})
		return nil
	}
	old, existed, err := step(below, at.name)
	if err != nil {
		return err
	}
	kind := Added
	if existed {
		kind = Modified
	}
	mark := len(w.out)
	w.out = append(w.out, Change{kind, "/" + rel})
	if !isDir(&c.st) {
		return nil
	}
	sub, err := c.dirRef().openDir()
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	defer unix.Close(sub)
	var subBelow []int
	if existed && isDir(&old.st) {
		if subBelow, err = openDirs(old.dirs); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		defer closeAll(subBelow)
	}
	if err := w.walk(sub, subBelow, rel); err != nil {
		return err
	}
	if existed && len(w.out) == mark+1 && sameMeta(&c.st, &old.st) {
		w.out = w.out[:mark] // a copy-up made only to hold excluded mount points
	}
	return nil
}

// fdOpaque reports whether the directory open as fd is marked opaque.
func fdOpaque(fd int) bool {
	buf := make([]byte, 4)
	n, err := unix.Fgetxattr(fd, opaqueXattr, buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

// sameMeta reports whether two directories have the same type, mode and owner.
func sameMeta(a, b *unix.Stat_t) bool {
	return a.Mode == b.Mode && a.Uid == b.Uid && a.Gid == b.Gid
}
