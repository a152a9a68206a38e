package dockerfile

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// Context is a build context directory, as COPY and ADD see it: what
// .dockerignore excludes is absent, and is never opened (a directory
// excluded whole is not even listed, unless an exception may apply inside
// it). Paths never leave the directory: it is read through an os.Root.
type Context struct {
	root *os.Root
	pm   *patternmatcher.PatternMatcher // nil: nothing excluded

	mu   sync.Mutex
	sums map[string]string // file content hashes by path, made once per build

	opened func(rel string) // tests: called for each file or directory opened
}

// OpenContext opens dir and reads its .dockerignore, if any. The caller
// closes it.
func OpenContext(dir string) (*Context, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	c := &Context{root: root, sums: map[string]string{}}
	f, err := root.Open(".dockerignore")
	if err == nil {
		patterns, err := ignorefile.ReadAll(io.LimitReader(f, MaxSize))
		f.Close()
		if err != nil {
			root.Close()
			return nil, fmt.Errorf(".dockerignore: %w", err)
		}
		if c.pm, err = patternmatcher.New(patterns); err != nil {
			root.Close()
			return nil, fmt.Errorf(".dockerignore: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		root.Close()
		return nil, err
	}
	return c, nil
}

// Close releases the directory.
func (c *Context) Close() error { return c.root.Close() }

// ReadFile reads a small file of the context (a Dockerfile), excluded or
// not, as Docker does.
func (c *Context) ReadFile(name string) ([]byte, error) {
	f, err := c.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	return data, err
}

func (c *Context) excluded(rel string) bool {
	if c.pm == nil || rel == "." {
		return false
	}
	m, err := c.pm.MatchesOrParentMatches(rel)
	return err == nil && m
}

// skipDir reports whether an excluded directory can be skipped whole: no
// exception ("!pattern") could bring back something below it.
func (c *Context) skipDir(rel string) bool {
	if !c.excluded(rel) {
		return false
	}
	for _, p := range c.pm.Patterns() {
		if p.Exclusion() {
			return false
		}
	}
	return true
}

// Clean makes a COPY source a clean path relative to the context: sources
// cannot climb out of it ("../x" is "x"), as with Docker.
func Clean(src string) string {
	return strings.TrimPrefix(path.Clean("/"+src), "/")
}

// Match returns the context paths a COPY source names: the path itself, or
// what its glob (path.Match syntax) matches, sorted. Excluded paths are not
// matched. A source that matches nothing is an error wrapping
// fs.ErrNotExist.
func (c *Context) Match(src string) ([]string, error) {
	p := Clean(src)
	if p == "" {
		p = "."
	}
	if !strings.ContainsAny(p, "*?[\\") {
		if _, err := c.root.Lstat(p); err != nil || c.excluded(p) {
			return nil, fmt.Errorf("%s: %w (not in the build context, or excluded by .dockerignore)", src, fs.ErrNotExist)
		}
		return []string{p}, nil
	}
	if _, err := path.Match(p, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	var out []string
	// Only the directories the pattern's fixed prefix names are listed.
	depth := strings.Count(p, "/")
	err := c.walk(".", func(rel string, info fs.FileInfo) (bool, error) {
		if rel == "." {
			return true, nil
		}
		if ok, _ := path.Match(p, rel); ok {
			out = append(out, rel)
		}
		return info.IsDir() && strings.Count(rel, "/") < depth, nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w (no file in the build context matches)", src, fs.ErrNotExist)
	}
	sort.Strings(out)
	return out, nil
}

// Stat returns what rel is, following a symlink inside the context (a COPY
// source that is a symlink copies what it points at, as Docker does), and
// the path it resolves to.
func (c *Context) Stat(rel string) (string, fs.FileInfo, error) {
	for range 40 {
		info, err := c.root.Lstat(rel)
		if err != nil {
			return "", nil, err
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			return rel, info, nil
		}
		target, err := c.root.Readlink(rel)
		if err != nil {
			return "", nil, err
		}
		if path.IsAbs(target) {
			rel = Clean(target)
		} else {
			rel = Clean(path.Join(path.Dir(rel), target))
		}
		if rel == "" {
			rel = "."
		}
		if c.excluded(rel) {
			return "", nil, fmt.Errorf("%s: %w (excluded by .dockerignore)", rel, fs.ErrNotExist)
		}
	}
	return "", nil, fmt.Errorf("%s: too many symlinks", rel)
}

// walk calls fn for rel and, while fn says so for a directory, what it
// holds, in name order, leaving out what .dockerignore excludes.
func (c *Context) walk(rel string, fn func(rel string, info fs.FileInfo) (bool, error)) error {
	info, err := c.root.Lstat(rel)
	if err != nil {
		return err
	}
	return c.walkInfo(rel, info, fn)
}

func (c *Context) walkInfo(rel string, info fs.FileInfo, fn func(string, fs.FileInfo) (bool, error)) error {
	excl := c.excluded(rel)
	if excl && (!info.IsDir() || c.skipDir(rel)) {
		return nil
	}
	if !excl {
		descend, err := fn(rel, info)
		if err != nil || !descend || !info.IsDir() {
			return err
		}
	} else if !info.IsDir() {
		return nil
	}
	if c.opened != nil {
		c.opened(rel)
	}
	d, err := c.root.Open(rel)
	if err != nil {
		return err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return err
	}
	sort.Slice(entries, func(a, b int) bool { return entries[a].Name() < entries[b].Name() })
	for _, e := range entries {
		ei, err := e.Info()
		if err != nil {
			return err
		}
		if err := c.walkInfo(path.Join(rel, e.Name()), ei, fn); err != nil {
			return err
		}
	}
	return nil
}

// Hash returns a hash of the content at rel (resolved by Stat): names,
// types, modes, symlink targets and file contents; not times or owners
// (COPY sets those). File contents are hashed once per Context.
func (c *Context) Hash(rel string) (string, error) {
	rel, info, err := c.Stat(rel)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	err = c.walkInfo(rel, info, func(p string, fi fs.FileInfo) (bool, error) {
		name := below(rel, p)
		fmt.Fprintf(h, "%q %o", name, fi.Mode())
		switch {
		case fi.Mode().IsRegular():
			sum, err := c.fileSum(p)
			if err != nil {
				return false, err
			}
			fmt.Fprintf(h, " %s", sum)
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := c.root.Readlink(p)
			if err != nil {
				return false, err
			}
			fmt.Fprintf(h, " -> %q", t)
		}
		h.Write([]byte{'\n'})
		return true, nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (c *Context) fileSum(rel string) (string, error) {
	c.mu.Lock()
	sum, ok := c.sums[rel]
	c.mu.Unlock()
	if ok {
		return sum, nil
	}
	f, err := c.openFile(rel)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	sum = hex.EncodeToString(h.Sum(nil))
	c.mu.Lock()
	c.sums[rel] = sum
	c.mu.Unlock()
	return sum, nil
}

// openFile opens a regular file, never a FIFO or device.
func (c *Context) openFile(rel string) (*os.File, error) {
	if c.opened != nil {
		c.opened(rel)
	}
	f, err := c.root.OpenFile(rel, os.O_RDONLY|nonBlock, 0)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", rel)
	}
	return f, nil
}

// Owner is who COPY makes the owner of what it writes, and the mode it
// gives (Mode 0: the source's).
type Owner struct {
	UID, GID int
	Mode     fs.FileMode
}

// ApplyTo sets hdr's owner, and its mode if Mode is set.
func (o Owner) ApplyTo(hdr *tar.Header) {
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = o.UID, o.GID, "", ""
	if o.Mode != 0 {
		hdr.Mode = int64(o.Mode.Perm()) | hdr.Mode&^0o777
	}
}

// WriteTar writes rel (resolved by Stat) to tw: a directory's contents
// below dst, a file as dst (names relative to the image root, no leading
// slash). Hardlinks are written as separate files. Excluded paths are
// left out.
func (c *Context) WriteTar(tw *tar.Writer, rel, dst string, own Owner) error {
	rel, info, err := c.Stat(rel)
	if err != nil {
		return err
	}
	return c.walkInfo(rel, info, func(p string, fi fs.FileInfo) (bool, error) {
		sub := below(rel, p)
		if fi.IsDir() && sub == "" {
			return true, nil // the destination directory: the caller writes it
		}
		name := path.Join(dst, sub)
		var link string
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = c.root.Readlink(p); err != nil {
				return false, err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return false, err
		}
		hdr.Name = name
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Format = tar.FormatPAX
		hdr.AccessTime, hdr.ChangeTime = time0, time0
		own.ApplyTo(hdr)
		if !fi.Mode().IsRegular() {
			if fi.Mode()&(fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket) != 0 {
				return false, nil // as Docker's context upload: not copied
			}
			return true, tw.WriteHeader(hdr)
		}
		f, err := c.openFile(p)
		if err != nil {
			return false, err
		}
		defer f.Close()
		if err := tw.WriteHeader(hdr); err != nil {
			return false, err
		}
		n, err := io.Copy(tw, f)
		if err == nil && n != hdr.Size {
			err = fmt.Errorf("%s changed while being copied", p)
		}
		return true, err
	})
}

var time0 time.Time

// Open opens the regular file rel (resolved by Stat) for reading: an ADD
// source that may be an archive.
func (c *Context) Open(rel string) (*os.File, error) {
	rel, _, err := c.Stat(rel)
	if err != nil {
		return nil, err
	}
	return c.openFile(rel)
}

// IsDir reports whether rel (resolved by Stat) is a directory.
func (c *Context) IsDir(rel string) (bool, error) {
	_, info, err := c.Stat(rel)
	if err != nil {
		return false, err
	}
	return info.IsDir(), nil
}

// below returns p relative to dir ("" for dir itself); p is dir or below.
func below(dir, p string) string {
	if p == dir {
		return ""
	}
	if dir == "." {
		return p
	}
	return strings.TrimPrefix(p, dir+"/")
}
