// Package snapshot keeps unpacked image layers on disk, one directory per
// layer, named by the layer's chain ID, in overlayfs layout (whiteouts are
// 0:0 character devices, opaque directories carry trusted.overlay.opaque).
// A layer is unpacked once and shared by every image and container that
// has it; a container's root filesystem is an overlay mount of its image's
// snapshots (Path of each), made by the container's init.
//
// Layout under the root:
//
//	<hex>/fs          the layer's files
//	<hex>/meta.json   chain ID, parent, diff ID, size
//	init-1/fs         the init layer every container has over its image's (InitLayer)
//	.tmp-<rand>/      a snapshot being unpacked (locked by .tmp-<rand>.lock)
//
// A snapshot appears by renaming its finished temp directory, so readers
// never see a half-unpacked layer; Open removes what crashed writers left.
package snapshot

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hullbox/hull/internal/fsutil"
	digest "github.com/opencontainers/go-digest"
)

// Meta describes a committed snapshot.
type Meta struct {
	ChainID digest.Digest `json:"chainID"`
	Parent  digest.Digest `json:"parent,omitempty"`
	DiffID  digest.Digest `json:"diffID"`
	Size    int64         `json:"size"` // bytes of file content
}

// Store is a directory of snapshots.
type Store struct{ root string }

// Open creates root if needed and removes abandoned temp snapshots.
func Open(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	s := &Store{root: root}
	return s, s.clean()
}

// guard takes tmp.lock: shared by Prepare while it creates and locks a
// temp snapshot, exclusive while clean decides what is abandoned, so clean
// never mistakes a snapshot being born for a dead one.
func (s *Store) guard(mode fsutil.Mode) (*fsutil.Lock, error) {
	return fsutil.LockFile(filepath.Join(s.root, "tmp.lock"), mode)
}

func (s *Store) clean() error {
	// A look without the guard first: with no temp snapshot at all, as
	// after every Open no unpack died in, there is nothing to decide. One
	// made after this look is a live Prepare's.
	if !s.mayHaveTemps() {
		return nil
	}
	g, err := s.guard(fsutil.Exclusive)
	if err != nil {
		return err
	}
	defer g.Unlock()
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, ".tmp-") || strings.HasSuffix(name, ".lock") {
			continue
		}
		p := filepath.Join(s.root, name)
		lock, err := fsutil.LockFile(p+".lock", fsutil.NoWait|fsutil.MustExist)
		if errors.Is(err, fsutil.ErrLocked) {
			continue // a live unpack
		}
		os.RemoveAll(p)
		if lock != nil {
			os.Remove(p + ".lock")
			lock.Unlock()
		}
	}
	// Lock files whose directory is gone.
	locks, _ := filepath.Glob(filepath.Join(s.root, ".tmp-*.lock"))
	for _, l := range locks {
		if _, err := os.Stat(strings.TrimSuffix(l, ".lock")); errors.Is(err, fs.ErrNotExist) {
			if lock, err := fsutil.LockFile(l, fsutil.NoWait|fsutil.MustExist); err == nil {
				os.Remove(l)
				lock.Unlock()
			}
		}
	}
	return nil
}

// mayHaveTemps reports whether the root holds a temp snapshot or its lock
// (".tmp-*"), or cannot be read (clean reports why).
func (s *Store) mayHaveTemps() bool {
	// An entry per layer: a root of a thousand images reads a thousand
	// names, unless the directory is unchanged since a look found none.
	stamp, unchanged := fsutil.StatScanned(s.root)
	if unchanged {
		return false
	}
	f, err := os.Open(s.root)
	if err != nil {
		return true
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(256)
		for _, n := range names {
			if strings.HasPrefix(n, ".tmp-") {
				return true
			}
		}
		if err == io.EOF {
			fsutil.RecordScanned(s.root, stamp)
			return false
		}
		if err != nil {
			return true
		}
	}
}

func (s *Store) dir(chainID digest.Digest) string {
	return filepath.Join(s.root, chainID.Encoded())
}

// Path returns the directory holding the files of the snapshot.
func (s *Store) Path(chainID digest.Digest) string {
	return filepath.Join(s.dir(chainID), "fs")
}

// Stat returns the metadata of a committed snapshot; an absent one returns
// an error wrapping fs.ErrNotExist.
func (s *Store) Stat(chainID digest.Digest) (Meta, error) {
	var m Meta
	if chainID.Validate() != nil {
		return m, fmt.Errorf("snapshot %q: %w", chainID, fs.ErrNotExist)
	}
	data, err := os.ReadFile(filepath.Join(s.dir(chainID), "meta.json"))
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(data, &m)
}

// Exists reports whether the snapshot is committed.
func (s *Store) Exists(chainID digest.Digest) bool {
	_, err := s.Stat(chainID)
	return err == nil
}

// List returns the metadata of every committed snapshot.
func (s *Store) List() ([]Meta, error) {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return nil, err
	}
	var out []Meta
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.IsDir() {
			continue
		}
		m, err := s.Stat(digest.NewDigestFromEncoded(digest.SHA256, e.Name()))
		if err == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// Remove deletes a snapshot and returns its recorded size. The directory is
// renamed away first, so it disappears atomically even if the removal of
// its files is interrupted.
func (s *Store) Remove(chainID digest.Digest) (int64, error) {
	m, err := s.Stat(chainID)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	tmp := filepath.Join(s.root, ".tmp-del-"+randHex())
	if err := os.Rename(s.dir(chainID), tmp); err != nil {
		return 0, err
	}
	return m.Size, os.RemoveAll(tmp)
}

// Pending is a snapshot being unpacked. Write the layer into Dir, then
// Commit or Abort.
type Pending struct {
	s    *Store
	tmp  string
	lock *fsutil.Lock
	// Dir is the directory to unpack the layer into (empty at first).
	Dir string
}

// Prepare starts a new snapshot in a private temp directory.
func (s *Store) Prepare() (_ *Pending, retErr error) {
	g, err := s.guard(fsutil.Shared)
	if err != nil {
		return nil, err
	}
	defer g.Unlock()
	tmp := filepath.Join(s.root, ".tmp-"+randHex())
	lock, err := fsutil.LockFile(tmp+".lock", fsutil.CreateNew|fsutil.NoWait)
	if err != nil {
		return nil, err
	}
	p := &Pending{s: s, tmp: tmp, lock: lock, Dir: filepath.Join(tmp, "fs")}
	defer func() {
		if retErr != nil {
			p.Abort()
		}
	}()
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, err
	}
	// The layer root is the container's "/": 0755 like Docker's.
	if err := os.Mkdir(p.Dir, 0o755); err != nil {
		return nil, err
	}
	return p, nil
}

// Commit makes the snapshot visible under m.ChainID. If another writer
// committed the same chain ID first, this copy is discarded and Commit
// succeeds: the content is the same by construction.
func (p *Pending) Commit(m Meta) error {
	defer p.Abort()
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.tmp, "meta.json"), data, 0o600); err != nil {
		return err
	}
	err = os.Rename(p.tmp, p.s.dir(m.ChainID))
	if err != nil && p.s.Exists(m.ChainID) {
		return nil
	}
	return err
}

// Abort discards the snapshot. Safe after Commit and twice.
func (p *Pending) Abort() {
	if p.lock == nil {
		return
	}
	os.RemoveAll(p.tmp) // no-op after a successful rename
	os.Remove(p.tmp + ".lock")
	p.lock.Unlock()
	p.lock = nil
}

func randHex() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
