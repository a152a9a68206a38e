package statedir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// namesDir is containers/.names: one symlink per container name,
// <name> -> ../<id>, so that finding a name's container, and checking that
// a name is free, reads one link and one state instead of every state.
// The links are made and removed under the containers lock (hull's); a
// link whose container is gone or now has another name is stale, and
// whoever finds it under that lock may replace it.
func namesDir(dir string) string { return filepath.Join(dir, ".names") }

// HasNames reports whether the containers directory dir has its name
// index: a root that a hull without it used has none, and Open's full
// recovery makes it (with a link for every container).
func HasNames(dir string) bool {
	fi, err := os.Stat(namesDir(dir))
	return err == nil && fi.IsDir()
}

// MkdirNames makes the name index, empty, if missing.
func MkdirNames(dir string) error { return os.MkdirAll(namesDir(dir), 0o700) }

// NameOwner returns the ID that name links to, or "" if none.
func NameOwner(dir, name string) (string, error) {
	target, err := os.Readlink(filepath.Join(namesDir(dir), name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return filepath.Base(target), nil
}

// LinkName links name to container id, replacing any link the name had
// (the caller, holding the containers lock, found it stale).
func LinkName(dir, name, id string) error {
	link := filepath.Join(namesDir(dir), name)
	target := filepath.Join("..", id)
	err := os.Symlink(target, link)
	if errors.Is(err, fs.ErrNotExist) {
		if err = MkdirNames(dir); err == nil {
			err = os.Symlink(target, link)
		}
	}
	if errors.Is(err, fs.ErrExist) {
		if err = os.Remove(link); err == nil {
			err = os.Symlink(target, link)
		}
	}
	if err != nil {
		return fmt.Errorf("name container %.12s %q: %w", id, name, err)
	}
	return nil
}

// UnlinkName removes name's link if it links to container id; a link
// missing or naming another container is left alone.
func UnlinkName(dir, name, id string) error {
	if owner, err := NameOwner(dir, name); err != nil || owner != id {
		return err
	}
	err := os.Remove(filepath.Join(namesDir(dir), name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Names returns every name of the index with the ID it links to.
func Names(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(namesDir(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		if id, err := NameOwner(dir, e.Name()); err == nil && id != "" {
			out[e.Name()] = id
		}
	}
	return out, nil
}

// UnlinkNameAny removes name's link whatever it links to.
func UnlinkNameAny(dir, name string) error {
	err := os.Remove(filepath.Join(namesDir(dir), name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
