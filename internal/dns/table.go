// Package dns is hull's embedded name service for user-defined networks:
// a name table shared by every container of a state root (Table), and the
// server run for each container on 127.0.0.11:53 (Server, ServeNetns),
// which answers the names of containers that share a network with its own
// container and forwards every other question to upstream resolvers.
package dns

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Record is one container's entry on one network.
type Record struct {
	Network   string     `json:"n"`
	Container string     `json:"c"`
	Names     []string   `json:"a"` // container name, aliases, short id; lower case
	IP        netip.Addr `json:"ip"`
}

// The file: a 64-byte header, then the body (the JSON array of records)
// somewhere after it, where the header says.
//
//	magic[8] gen[8] off[8] len[8] bodyCRC[4] headerCRC[4] zero...
//
// Writers (host processes) serialise on an exclusive flock and never
// overwrite the body the header points to: the new body goes to a free
// region, then the header is rewritten to point to it, then the file is
// truncated after the new body. Readers take no lock: they validate what
// they read by the CRCs and retry on a mismatch (a write in progress).
// Readers live in containers' inits, which a Pause freezes or a memory
// limit stalls at any instant: a reader holding a lock there would block
// every network change on the host. A crash of a writer at any point
// leaves either the old or the new table, never a torn one.
const (
	magic      = "HULLDNS1"
	headerSize = 64
	maxBody    = 64 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt means the table file is not a valid table.
var ErrCorrupt = errors.New("dns: corrupt name table")

type header struct {
	gen, off, len uint64
	crc           uint32
}

func (h header) marshal() []byte {
	b := make([]byte, headerSize)
	copy(b, magic)
	binary.LittleEndian.PutUint64(b[8:], h.gen)
	binary.LittleEndian.PutUint64(b[16:], h.off)
	binary.LittleEndian.PutUint64(b[24:], h.len)
	binary.LittleEndian.PutUint32(b[32:], h.crc)
	binary.LittleEndian.PutUint32(b[36:], crc32.Checksum(b[:36], crcTable))
	return b
}

func parseHeader(b []byte) (header, bool) {
	if len(b) < headerSize || string(b[:8]) != magic ||
		binary.LittleEndian.Uint32(b[36:]) != crc32.Checksum(b[:36], crcTable) {
		return header{}, false
	}
	h := header{
		gen: binary.LittleEndian.Uint64(b[8:]),
		off: binary.LittleEndian.Uint64(b[16:]),
		len: binary.LittleEndian.Uint64(b[24:]),
		crc: binary.LittleEndian.Uint32(b[32:]),
	}
	if h.off < headerSize || h.len > maxBody {
		return header{}, false
	}
	return h, true
}

// Table is the name table file. The host opens it with Open to change it;
// a container's init keeps a read-only file (NewReader) opened before it
// pivots into its root filesystem: the table is rewritten in place, never
// replaced, so that file always shows the current table. A Table is safe
// for concurrent use, and several processes may share the file.
type Table struct {
	f *os.File

	mu    sync.Mutex // the cache below, and in-process writers
	valid bool
	gen   uint64
	recs  []Record
}

// Open opens the table file at path for reading and writing, creating an
// empty table if there is none. The caller must Close it.
func Open(path string) (*Table, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open name table: %w", err)
	}
	t := &Table{f: f}
	err = t.update(func(recs []Record) ([]Record, bool) { return recs, false })
	if err != nil {
		f.Close()
		return nil, err
	}
	return t, nil
}

// Create makes the table file at path, and its directory, if missing, so
// that servers can open it.
func Create(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	t, err := Open(path)
	if err != nil {
		return err
	}
	return t.Close()
}

// SetAt records r (Set) in the table at path, made if missing.
func SetAt(path string, r Record) error {
	if err := Create(path); err != nil {
		return err
	}
	t, err := Open(path)
	if err != nil {
		return err
	}
	defer t.Close()
	return t.Set(r)
}

// RemoveAt drops the records of container on network (Remove) from the
// table at path, if there is one.
func RemoveAt(path, container, network string) error {
	return inExisting(path, func(t *Table) error { return t.Remove(container, network) })
}

// RemoveIfAt drops every record drop returns true for (RemoveIf) from the
// table at path, if there is one, in one update.
func RemoveIfAt(path string, drop func(Record) bool) error {
	return inExisting(path, func(t *Table) error { return t.RemoveIf(drop) })
}

// inExisting runs change on the table at path, if there is one.
func inExisting(path string, change func(*Table) error) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	t, err := Open(path)
	if err != nil {
		return err
	}
	defer t.Close()
	return change(t)
}

// NewReader returns a Table that reads f, an open table file (read-only
// is enough). Set and Remove fail on it. Closing the Table closes f.
func NewReader(f *os.File) *Table { return &Table{f: f} }

// Close closes the file.
func (t *Table) Close() error { return t.f.Close() }

// Set records the names and address of container on network, replacing
// any record it had there. Names are matched without regard to case;
// empty names are dropped.
func (t *Table) Set(r Record) error {
	if r.Network == "" || r.Container == "" || !r.IP.IsValid() {
		return fmt.Errorf("dns: set: record needs a network, a container and an address")
	}
	var names []string
	for _, n := range r.Names {
		n = canonical(n)
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	r.Names = names
	return t.update(func(recs []Record) ([]Record, bool) {
		recs = slices.DeleteFunc(recs, func(o Record) bool {
			return o.Network == r.Network && o.Container == r.Container
		})
		return append(recs, r), true
	})
}

// Remove drops the records of container on network, or on every network
// when network is "". Removing what is not there is not an error.
func (t *Table) Remove(container, network string) error {
	return t.update(func(recs []Record) ([]Record, bool) {
		n := len(recs)
		recs = slices.DeleteFunc(recs, func(o Record) bool {
			return o.Container == container && (network == "" || o.Network == network)
		})
		return recs, len(recs) != n
	})
}

// RemoveIf drops every record drop accepts (recovery of containers and
// networks that are gone).
func (t *Table) RemoveIf(drop func(Record) bool) error {
	return t.update(func(recs []Record) ([]Record, bool) {
		n := len(recs)
		recs = slices.DeleteFunc(recs, drop)
		return recs, len(recs) != n
	})
}

// Records returns a copy of the current table.
func (t *Table) Records() ([]Record, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	recs, err := t.load()
	return slices.Clone(recs), err
}

// Lookup returns the addresses name has for self: those of the containers
// called name (by name, alias or short id) on the networks where self has
// a record. found reports whether the name is known there at all.
func (t *Table) Lookup(self, name string) (addrs []netip.Addr, found bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	recs, err := t.load()
	if err != nil {
		return nil, false, err
	}
	name = canonical(name)
	nets := networksOf(recs, self)
	for _, r := range recs {
		if !nets[r.Network] || !slices.Contains(r.Names, name) {
			continue
		}
		found = true
		if !slices.Contains(addrs, r.IP) {
			addrs = append(addrs, r.IP)
		}
	}
	return addrs, found, nil
}

// LookupAddr returns the name (the first one: the container's name) of the
// container with address ip on a network self is on, or "".
func (t *Table) LookupAddr(self string, ip netip.Addr) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	recs, err := t.load()
	if err != nil {
		return "", err
	}
	nets := networksOf(recs, self)
	for _, r := range recs {
		if nets[r.Network] && r.IP == ip.Unmap() && len(r.Names) > 0 {
			return r.Names[0], nil
		}
	}
	return "", nil
}

func networksOf(recs []Record, self string) map[string]bool {
	nets := map[string]bool{}
	for _, r := range recs {
		if r.Container == self {
			nets[r.Network] = true
		}
	}
	return nets
}

// canonical is the form names are compared in: lower case, without the
// root's trailing dot.
func canonical(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// load returns the current records, from the cache when the generation
// has not changed. Under t.mu.
func (t *Table) load() ([]Record, error) {
	var lastErr error
	for try := 0; try < 50; try++ {
		if try > 0 {
			// A writer is between two pwrites: let it finish (all
			// tries take 125ms at most, for a file that stays corrupt).
			time.Sleep(time.Duration(try) * 100 * time.Microsecond)
		}
		var hb [headerSize]byte
		n, err := t.f.ReadAt(hb[:], 0)
		if n == 0 && errors.Is(err, io.EOF) {
			lastErr = nil // created, not yet initialised: empty
			t.valid, t.gen, t.recs = false, 0, nil
			return nil, nil
		}
		h, ok := parseHeader(hb[:n])
		if !ok {
			lastErr = ErrCorrupt
			continue
		}
		if t.valid && h.gen == t.gen {
			return t.recs, nil
		}
		body := make([]byte, h.len)
		if _, err := t.f.ReadAt(body, int64(h.off)); err != nil || crc32.Checksum(body, crcTable) != h.crc {
			lastErr = ErrCorrupt
			continue
		}
		var recs []Record
		if err := json.Unmarshal(body, &recs); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		t.valid, t.gen, t.recs = true, h.gen, recs
		return recs, nil
	}
	return nil, lastErr
}

// update applies change to the table under the file's exclusive lock and
// writes the result if change says it changed anything (or if the file
// has no table yet).
func (t *Table) update(change func([]Record) ([]Record, bool)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	fd := int(t.f.Fd())
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock name table: %w", err)
	}
	defer unix.Flock(fd, unix.LOCK_UN)
	var hb [headerSize]byte
	n, err := t.f.ReadAt(hb[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read name table: %w", err)
	}
	var old header
	var recs []Record
	if n > 0 {
		// Under the lock nothing changes it: one read is the truth.
		h, ok := parseHeader(hb[:n])
		if !ok {
			return fmt.Errorf("%s: %w", t.f.Name(), ErrCorrupt)
		}
		if recs, err = t.load(); err != nil {
			return fmt.Errorf("%s: %w", t.f.Name(), err)
		}
		recs, old = slices.Clone(recs), h
	}
	recs, changed := change(recs)
	if !changed && n > 0 {
		return nil
	}
	if recs == nil {
		recs = []Record{}
	}
	body, err := json.Marshal(recs)
	if err != nil {
		return err
	}
	// The new body goes before the old one if it fits there, else after.
	off := uint64(headerSize)
	if n > 0 && off+uint64(len(body)) > old.off {
		off = old.off + old.len
	}
	h := header{gen: old.gen + 1, off: off, len: uint64(len(body)), crc: crc32.Checksum(body, crcTable)}
	if _, err := t.f.WriteAt(body, int64(off)); err != nil {
		return fmt.Errorf("write name table: %w", err)
	}
	if _, err := t.f.WriteAt(h.marshal(), 0); err != nil {
		return fmt.Errorf("write name table: %w", err)
	}
	if err := t.f.Truncate(int64(off + h.len)); err != nil {
		return fmt.Errorf("write name table: %w", err)
	}
	t.valid, t.gen, t.recs = true, h.gen, recs
	return nil
}
