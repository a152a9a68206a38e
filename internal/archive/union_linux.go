package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// The merged view of overlayfs layers, computed without mounting them: a container's
// upper directory over its image's snapshots reads the way the container sees its root
// (volumes and the mounts hull adds at start excepted). Export, cp and diff use it, so
// they work the same on a running and a stopped container and never leave a mount
// behind.

// unionList lists a directory of the merged view: the first layer that has a name wins,
// whiteouts hide the name in the layers below, and a directory is the union of the
// directories of that name down to the first opaque one (or the first non-directory).
func unionList(n *node) ([]string, []node, error) {
	seen := map[string]bool{}
	var names []string
	var nodes []node
	for i, d := range n.dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range ents {
			name := e.Name()
			if seen[name] {
				continue
			}
			seen[name] = true
			c := node{path: d + "/" + name}
			if err := unix.Lstat(c.path, &c.st); err != nil {
				return nil, nil, err
			}
			if isWhiteoutNode(&c) {
				continue
			}
			if isDir(&c.st) {
				c.dirs = mergedDirs(c.path, n.dirs[i+1:], name)
			}
			names, nodes = append(names, name), append(nodes, c)
		}
	}
	sort.Sort(byName{names, nodes})
	return names, nodes, nil
}

// mergedDirs returns top, then the directories named name in lowers that show through
// it: down to an opaque directory, a whiteout or a non-directory.
func mergedDirs(top string, lowers []string, name string) []string {
	dirs := []string{top}
	if isOpaqueDir(top) {
		return dirs
	}
	for _, l := range lowers {
		p := l + "/" + name
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			continue // absent here: look further down
		}
		if !isDir(&st) {
			break
		}
		dirs = append(dirs, p)
		if isOpaqueDir(p) {
			break
		}
	}
	return dirs
}

type byName struct {
	names []string
	nodes []node
}

func (b byName) Len() int           { return len(b.names) }
func (b byName) Less(i, j int) bool { return b.names[i] < b.names[j] }
func (b byName) Swap(i, j int) {
	b.names[i], b.names[j] = b.names[j], b.names[i]
	b.nodes[i], b.nodes[j] = b.nodes[j], b.nodes[i]
}

// lookup returns the node at rel (clean, relative, "." for the root) without following
// symlinks; ok is false when rel does not exist in the view.
func (u Union) lookup(rel string) (node, bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(u.Layers[0], &st); err != nil {
		return node{}, false, err
	}
	n := node{path: u.Layers[0], st: st, dirs: u.Layers}
	if rel == "." {
		return n, true, nil
	}
	for _, part := range strings.Split(rel, "/") {
		if !isDir(&n.st) {
			return node{}, false, nil
		}
		found := false
		for i, d := range n.dirs {
			c := node{path: d + "/" + part}
			err := unix.Lstat(c.path, &c.st)
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
				c.dirs = mergedDirs(c.path, n.dirs[i+1:], part)
			}
			n, found = c, true
			break
		}
		if !found {
			return node{}, false, nil
		}
	}
	return n, true, nil
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
		n, ok, err := u.lookup(next)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("%s: %w", p, os.ErrNotExist)
		}
		if n.st.Mode&unix.S_IFMT != unix.S_IFLNK || (len(rest) == 0 && !followLast) {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: %w", p, unix.ELOOP)
		}
		target, err := os.Readlink(n.path)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			cur = "."
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return cur, nil
}

// WriteTar writes the subtree at rel (as Resolve returns it) as an uncompressed tar, like
// WriteTree. With base "" the entries are named relative to rel (rel must be a
// directory, which is not an entry itself: an export); otherwise rel itself is the entry
// base and what it holds is below it (a `docker cp`).
func (u Union) WriteTar(ctx context.Context, w io.Writer, rel, base string) error {
	n, ok, err := u.lookup(rel)
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
	below := Union{Layers: lowers}
	skip := map[string]bool{}
	for _, e := range exclude {
		skip[e] = true
	}
	var out []Change
	var walk func(dir string) error
	walk = func(dir string) error {
		ents, err := os.ReadDir(path.Join(upper, dir))
		if err != nil {
			return err
		}
		present := map[string]bool{}
		for _, e := range ents {
			if err := ctx.Err(); err != nil {
				return err
			}
			rel := path.Join(dir, e.Name())
			present[e.Name()] = true
			if skip[rel] {
				continue
			}
			c := node{path: upper + "/" + rel}
			if err := unix.Lstat(c.path, &c.st); err != nil {
				return err
			}
			if isWhiteoutNode(&c) {
				out = append(out, Change{Deleted, "/" + rel})
				continue
			}
			old, existed, err := below.lookup(rel)
			if err != nil {
				return err
			}
			kind := Added
			if existed {
				kind = Modified
			}
			at := len(out)
			out = append(out, Change{kind, "/" + rel})
			if isDir(&c.st) {
				if err := walk(rel); err != nil {
					return err
				}
				if existed && len(out) == at+1 && sameMeta(&c.st, &old.st) {
					out = out[:at] // a copy-up made only to hold excluded mount points
				}
			}
		}
		if dir == "." || !isOpaqueDir(path.Join(upper, dir)) {
			return nil
		}
		n, ok, err := below.lookup(dir)
		if err != nil || !ok || !isDir(&n.st) {
			return err
		}
		names, _, err := unionList(&n)
		if err != nil {
			return err
		}
		for _, name := range names {
			if !present[name] {
				out = append(out, Change{Deleted, "/" + path.Join(dir, name)})
			}
		}
		return nil
	}
	if len(lowers) == 0 {
		return nil, errors.New("changes: no lower layers")
	}
	if err := walk("."); err != nil {
		return nil, fmt.Errorf("changes in %s: %w", upper, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// sameMeta reports whether two directories have the same type, mode and owner.
func sameMeta(a, b *unix.Stat_t) bool {
	return a.Mode == b.Mode && a.Uid == b.Uid && a.Gid == b.Gid
}
