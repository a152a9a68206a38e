package statedir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/hullbox/hull/internal/fsutil"
)

// StateFile is the name of a container's state file in its directory.
const StateFile = "state.json"

// cacheName is containers/.recovery/states, the listing cache: the
// parsed states of the containers whose state no longer changes by itself
// (exited ones), each with the stamp of the state file it was parsed
// from, in a binary form (codec.go). Parsing a state's JSON is most of
// what listing a thousand containers costs; a stat and a share of one
// binary decode are not.
const cacheName = "states"

// Stamp identifies one version of a state file. A state file is never
// written in place (it is replaced by a rename), so a new version is a
// new inode, written at a later time; an inode number reused within one
// timestamp tick, at the same size, is the only way two versions could
// share a stamp.
type Stamp struct {
	Ino, Size    uint64
	Mtime, Ctime int64 // nanoseconds
}

// Stat returns the stamp of the file at path, not following a symlink
// (an error on systems that give none).
func Stat(path string) (Stamp, error) { return stat(path) }

// cacheEntry is one container in the listing cache.
type cacheEntry[T any] struct {
	ID    string
	Stamp Stamp
	State T
}

// cacheMagic starts the listing cache; the schema of its states
// (schemaOf) follows, so that a cache written by a build whose T differs
// (another hull version on the same root) is ignored, never misread.
const cacheMagic = "hull listing cache 1\n"

// ReadStates reads the state of each of ids, containers of the containers
// directory dir, in their order, with parse (given the ID and the file's
// bytes; keep reports whether the state it returns may be cached: whether
// it is what the file says and will stay so until the file changes). It
// takes a state from the listing cache when its file has the stamp it
// had when it was cached: the files are the truth, the cache only spares
// parsing them again. A state whose file is missing has an error wrapping
// fs.ErrNotExist. It writes the cache again (atomically, not synced: it
// is only a cache) when a cacheable state was not in it or an entry had
// gone stale, so many processes may list at once; the last to write wins,
// and what any of them wrote is checked the same way by the next.
//
// stamps[i] is the stamp of the file state i was parsed from (or taken
// for) when that state is cacheable, else zero: a caller that holds the
// state may take it as still current while Stat of its file gives the
// same stamp.
func ReadStates[T any](dir string, ids []string, parse func(id string, data []byte) (st T, keep bool, err error)) (states []T, stamps []Stamp, errs []error) {
	schema := schemaOf(reflect.TypeFor[T]())
	cached := readCache[T](dir, schema)
	type result struct {
		st    T
		stamp Stamp
		keep  bool
		hit   bool
	}
	res, errs := ReadAll(ids, func(id string) (result, error) {
		path := filepath.Join(dir, id, StateFile)
		if e, ok := cached[id]; ok {
			if s, err := stat(path); err == nil && s == e.Stamp {
				return result{st: e.State, stamp: s, keep: true, hit: true}, nil
			}
		}
		data, s, err := readStamped(path)
		if err != nil {
			return result{}, err
		}
		st, keep, err := parse(id, data)
		return result{st: st, stamp: s, keep: keep && s != (Stamp{})}, err
	})
	out := make([]T, len(ids))
	stamps = make([]Stamp, len(ids))
	var entries []cacheEntry[T]
	changed := false
	for i, r := range res {
		out[i] = r.st
		if errs[i] != nil || !r.keep {
			continue
		}
		stamps[i] = r.stamp
		entries = append(entries, cacheEntry[T]{ID: ids[i], Stamp: r.stamp, State: r.st})
		changed = changed || !r.hit
	}
	if changed || len(entries) != len(cached) {
		writeCache(dir, schema, entries)
	}
	return out, stamps, errs
}

func cachePath(dir string) string { return filepath.Join(dir, RecoveryDir, cacheName) }

// readCache returns the entries of the listing cache by ID; none if it is
// missing, unreadable, corrupt or of another schema.
func readCache[T any](dir, schema string) map[string]cacheEntry[T] {
	data, err := fsutil.ReadSmallFile(cachePath(dir))
	if err != nil || !bytes.HasPrefix(data, []byte(cacheMagic)) {
		return nil
	}
	d := &decoder{b: data[len(cacheMagic):]}
	if s, err := d.bytes(); err != nil || string(s) != schema {
		return nil
	}
	n, err := d.length()
	if err != nil || n < 0 {
		return nil
	}
	m := make(map[string]cacheEntry[T], n)
	for range n {
		var e cacheEntry[T]
		if d.value(reflect.ValueOf(&e).Elem()) != nil {
			return nil
		}
		m[e.ID] = e
	}
	return m
}

// writeCache replaces the listing cache; failing to is not an error (the
// next listing parses the files again).
func writeCache[T any](dir, schema string, entries []cacheEntry[T]) {
	b := appendBytes([]byte(cacheMagic), []byte(schema))
	b = binary.AppendUvarint(b, uint64(len(entries))+1)
	for i := range entries {
		var err error
		if b, err = appendValue(b, reflect.ValueOf(&entries[i]).Elem()); err != nil {
			return
		}
	}
	path := cachePath(dir)
	err := fsutil.WriteFileAtomic(path, b, 0o600)
	if errors.Is(err, fs.ErrNotExist) && MkdirRecovery(dir) == nil {
		_ = fsutil.WriteFileAtomic(path, b, 0o600)
	}
}

// schemaOf describes t's shape: the names and types of its fields, down
// through structs, slices, maps and pointers.
func schemaOf(t reflect.Type) string {
	var b strings.Builder
	var walk func(t reflect.Type, depth int)
	walk = func(t reflect.Type, depth int) {
		if depth > 8 {
			b.WriteString("…")
			return
		}
		switch t.Kind() {
		case reflect.Struct:
			fmt.Fprintf(&b, "%s{", t.String())
			for f := range t.Fields() {
				if f.IsExported() {
					b.WriteString(f.Name + " ")
					walk(f.Type, depth+1)
					b.WriteString(";")
				}
			}
			b.WriteString("}")
		case reflect.Slice, reflect.Array, reflect.Pointer:
			fmt.Fprintf(&b, "%s(", t.Kind())
			walk(t.Elem(), depth+1)
			b.WriteString(")")
		case reflect.Map:
			b.WriteString("map[")
			walk(t.Key(), depth+1)
			b.WriteString("]")
			walk(t.Elem(), depth+1)
		default:
			b.WriteString(t.String())
		}
	}
	walk(t, 0)
	return b.String()
}
