package archive

import (
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// LayerFS is a read-only view of an image's layers (snapshot dirs, top
// first) for the few files read before the rootfs exists (/etc/passwd,
// /etc/group): a name is looked up in the union, as the container's
// overlay will see it: the topmost layer that has a component gives it,
// a whiteout hides it, and symlinks are followed through the union, an
// absolute one from the image's root and ".." never above it (Docker
// reads /etc/passwd -> /etc/passwd.real). Each layer is an os.Root, so
// nothing is read outside it. TODO: opaque directories are not honoured.
type LayerFS []string

// Open opens name in the union of the layers.
func (l LayerFS) Open(name string) (fs.File, error) {
	root, path, err := l.resolve("open", name)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Open(path)
}

// Stat Lstats what name resolves to. It makes LayerFS an fs.StatFS, so that a reader checks what a name is before it
// opens it: opening a FIFO (a hostile image's etc/passwd) would block for ever.
func (l LayerFS) Stat(name string) (fs.FileInfo, error) {
	root, path, err := l.resolve("stat", name)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Lstat(path)
}

// maxLinks bounds the symlinks one lookup follows, as the kernel's 40.
const maxLinks = 40

// resolve follows name through the union of the layers, one component at
// a time, and returns the topmost layer that holds what it names and the
// path there, which has no symlink left. The caller closes the root.
func (l LayerFS) resolve(op, name string) (*os.Root, string, error) {
	todo := strings.Split(name, "/")
	var cur []string // resolved components
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) > 0 {
				cur = cur[:len(cur)-1]
			}
			continue
		}
		next := strings.Join(append(cur, c), "/")
		root, fi := l.layer(next)
		if root == nil {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if len(todo) == 0 {
				return root, next, nil
			}
			root.Close()
			cur = append(cur, c)
			continue
		}
		target, err := root.Readlink(next)
		root.Close()
		if err != nil {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: err}
		}
		if links++; links > maxLinks {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: unix.ELOOP}
		}
		if strings.HasPrefix(target, "/") {
			cur = nil
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	// name was the root itself.
	for _, dir := range l {
		if root, err := os.OpenRoot(dir); err == nil {
			return root, ".", nil
		}
	}
	return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

// layer opens the topmost layer that has name (a path without symlinks
// but maybe its last component) and returns it with name's Lstat there;
// nil when none has it or a whiteout deletes it. The caller closes it.
func (l LayerFS) layer(name string) (*os.Root, fs.FileInfo) {
	for _, dir := range l {
		root, err := os.OpenRoot(dir)
		if err != nil {
			continue
		}
		fi, err := root.Lstat(name)
		if err != nil {
			root.Close()
			continue
		}
		if fi.Mode()&fs.ModeCharDevice != 0 && fi.Mode()&fs.ModeDevice != 0 {
			root.Close()
			return nil, nil // a whiteout: deleted in this layer
		}
		return root, fi
	}
	return nil, nil
}
