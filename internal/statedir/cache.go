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
	"sync"

	"github.com/hullbox/hull/internal/fsutil"
)

// StateFile is the name of a container's state file in its directory.
const StateFile = "state.json"

// cacheName is containers/.recovery/listing, the listing cache: the
// parsed states of the containers whose state no longer changes by itself
// (exited ones), each with the stamp of the state file it was parsed
// from, in a binary form (codec.go). Parsing a state's JSON is most of
// what listing a thousand containers costs; a share of one binary decode
// is not. (Hulls before the settle generation kept theirs in "states":
// another name, so that an old and a new hull listing the same root do
// not replace each other's at every turn.)
const cacheName = "listing"

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
// (schemaOf) and the settle generation it was written under follow, so that a cache written by a build whose T differs
// (another hull version on the same root) is ignored, never misread.
const cacheMagic = "hull listing cache 2\n"

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
// It takes a cached state without even a stat of its file when view
// allows: the cache was written under view's settle generation (Gen) and
// the container is not listed as unsettled. Whoever writes a state lists
// the container before and after the write, and Open's recovery replaces
// the generation (BumpGen) before it drops a container from the list and
// lists it again if its state changed meanwhile, so such an entry was
// read after the last write of its file: see View.
//
// stamps[i] is the stamp of the file state i was parsed from (or taken
// for) when that state is cacheable, else zero: a caller that holds the
// state may take it as still current while Stat of its file gives the
// same stamp.
func ReadStates[T any](dir string, ids []string, view View, parse func(id string, data []byte) (st T, keep bool, err error)) (states []T, stamps []Stamp, errs []error) {
	schema := schemaOf(reflect.TypeFor[T]())
	cached := readCache[T](dir, schema)
	// Paths relative to the containers directory: a thousand stats walk
	// two components each, not the root's whole path.
	base, closeBase := openDir(dir)
	defer closeBase()
	states, stamps, errs = make([]T, len(ids)), make([]Stamp, len(ids)), make([]error, len(ids))
	// Written by index (states are large: no copies of them in between).
	keep, hit := make([]bool, len(ids)), make([]bool, len(ids))
	// First the cached states whose file is unchanged, in this goroutine:
	// a stat is too little work to share out.
	var misses []int
	trusted := view.Gen != "" && cached.gen == view.Gen
	for i, id := range ids {
		if e := cached.byID[id]; e != nil {
			if trusted && !view.Unsettled[id] {
				states[i], stamps[i], keep[i], hit[i] = e.State, e.Stamp, true, true
				continue
			}
			if s, err := statAt(base, dir, id+"/"+StateFile); err == nil && s == e.Stamp {
				states[i], stamps[i], keep[i], hit[i] = e.State, s, true, true
				continue
			}
		}
		misses = append(misses, i)
	}
	// Then the others, parsed on every CPU when they are many.
	missErrs := readAll(len(misses), func(j int) error {
		i := misses[j]
		data, s, err := readStampedAt(base, dir, ids[i]+"/"+StateFile)
		if err != nil {
			return err
		}
		var k bool
		states[i], k, err = parse(ids[i], data)
		if k && s != (Stamp{}) && err == nil {
			stamps[i], keep[i] = s, true
		}
		return err
	})
	for j, i := range misses {
		errs[i] = missErrs[j]
	}
	var entries []cacheEntry[T]
	changed := false
	for i := range ids {
		if errs[i] != nil || !keep[i] {
			stamps[i] = Stamp{}
			continue
		}
		entries = append(entries, cacheEntry[T]{ID: ids[i], Stamp: stamps[i], State: states[i]})
		changed = changed || !hit[i]
	}
	if changed || len(entries) != len(cached.byID) || cached.gen != view.Gen {
		writeCache(dir, schema, view.Gen, entries)
	}
	return states, stamps, errs
}

// View is what a listing reads under the containers lock (shared), which
// Open's recovery holds while it bumps the generation and changes the
// unsettled list: the settle generation (Gen) and the containers listed
// as unsettled. It must be read before the states are.
//
// Why a cache entry then needs no stat: it was read, by the listing that
// wrote the cache, after Gen was read. Had its file been written since,
// the writer listed the container after its write; for it to be unlisted
// now, a recovery dropped it from the list after that write, and either
// it read the state before the write (then its stat after dropping it
// saw the change and listed it again, before it let go of the lock) or
// after (then it bumped Gen after the write, so after the entry was read:
// the cache would be of another generation).
type View struct {
	Gen       string
	Unsettled map[string]bool
}

func cachePath(dir string) string { return filepath.Join(dir, RecoveryDir, cacheName) }

// cache is the listing cache as read: its entries, and an index of them
// by ID.
type cache[T any] struct {
	gen     string // the settle generation it was written under
	entries []cacheEntry[T]
	byID    map[string]*cacheEntry[T]
}

// readCache returns the entries of the listing cache; none if it is
// missing, unreadable, corrupt or of another schema.
func readCache[T any](dir, schema string) cache[T] {
	// Read into a buffer of the file's size (hundreds of KB for a
	// thousand states), not grown from a small one.
	data, _, err := readStamped(cachePath(dir))
	if err != nil || !bytes.HasPrefix(data, []byte(cacheMagic)) {
		return cache[T]{}
	}
	d := &decoder{b: data[len(cacheMagic):]}
	if s, err := d.bytes(); err != nil || string(s) != schema {
		return cache[T]{}
	}
	gen, err := d.bytes()
	if err != nil {
		return cache[T]{}
	}
	n, err := d.length()
	if err != nil || n < 0 {
		return cache[T]{}
	}
	ti := infoOf(reflect.TypeFor[cacheEntry[T]]())
	c := cache[T]{gen: string(gen), entries: make([]cacheEntry[T], n), byID: make(map[string]*cacheEntry[T], n)}
	for i := range c.entries {
		e := &c.entries[i]
		if d.value(reflect.ValueOf(e).Elem(), ti) != nil {
			return cache[T]{}
		}
		c.byID[e.ID] = e
	}
	return c
}

// writeCache replaces the listing cache; failing to is not an error (the
// next listing parses the files again).
func writeCache[T any](dir, schema, gen string, entries []cacheEntry[T]) {
	b := appendBytes([]byte(cacheMagic), []byte(schema))
	b = appendBytes(b, []byte(gen))
	b = binary.AppendUvarint(b, uint64(len(entries))+1)
	ti := infoOf(reflect.TypeFor[cacheEntry[T]]())
	for i := range entries {
		var err error
		if b, err = appendValue(b, reflect.ValueOf(&entries[i]).Elem(), ti); err != nil {
			return
		}
	}
	path := cachePath(dir)
	err := fsutil.WriteFileAtomic(path, b, 0o600)
	if errors.Is(err, fs.ErrNotExist) && MkdirRecovery(dir) == nil {
		_ = fsutil.WriteFileAtomic(path, b, 0o600)
	}
}

var schemas sync.Map // reflect.Type -> string: schemaOf's, worked out once

// schemaOf describes t's shape: the names and types of its fields, down
// through structs, slices, maps and pointers.
func schemaOf(t reflect.Type) string {
	if s, ok := schemas.Load(t); ok {
		return s.(string)
	}
	s := describe(t)
	schemas.Store(t, s)
	return s
}

func describe(t reflect.Type) string {
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
