package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hullbox/hull/internal/fsutil"
	digest "github.com/opencontainers/go-digest"
)

// Hold keeps content alive: while a hold names an image or snapshots, the
// image cannot be removed without force and GC keeps its blobs and
// snapshots. Containers take one each.
type Hold struct {
	ID        string          `json:"id"`
	Image     digest.Digest   `json:"image,omitempty"`     // manifest digest
	Snapshots []digest.Digest `json:"snapshots,omitempty"` // chain IDs
}

func (s *Store) holdPath(id string) (string, error) {
	if id == "" || strings.ContainsAny(id, "/\x00") || id[0] == '.' {
		return "", fmt.Errorf("bad hold id %q", id)
	}
	return filepath.Join(s.root, "holds", id+".json"), nil
}

// PutHold writes (or replaces) a hold.
func (s *Store) PutHold(h Hold) error { return s.putHold(h, true) }

// PutHoldVolatile is PutHold without waiting for the disk (no fsync, which
// costs a container start about a millisecond): after a machine crash the
// hold may be missing or unreadable. Only for holds the caller can put
// back from its own records before anything collects garbage; hull's Open
// does so for containers (RepairHold).
func (s *Store) PutHoldVolatile(h Hold) error { return s.putHold(h, false) }

func (s *Store) putHold(h Hold, durable bool) error {
	p, err := s.holdPath(h.ID)
	if err != nil {
		return err
	}
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if durable {
		return s.writeFile(p, data, 0o600, fsutil.SyncDir())
	}
	return s.writeFile(p, data, 0o600)
}

// RepairHold puts h back (durably) unless a readable hold with its ID
// exists: after a machine crash, for holds written with PutHoldVolatile.
func (s *Store) RepairHold(h Hold) error {
	p, err := s.holdPath(h.ID)
	if err != nil {
		return err
	}
	if data, err := os.ReadFile(p); err == nil && json.Unmarshal(data, new(Hold)) == nil {
		return nil
	}
	return s.PutHold(h)
}

// HoldIDs lists the IDs of every hold, readable or not.
func (s *Store) HoldIDs() ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(s.root, "holds", "*.json"))
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(matches))
	for _, m := range matches {
		ids = append(ids, strings.TrimSuffix(filepath.Base(m), ".json"))
	}
	return ids, nil
}

// DeleteHold removes a hold; a missing one is not an error.
func (s *Store) DeleteHold(id string) error {
	p, err := s.holdPath(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Holds lists every hold.
func (s *Store) Holds() ([]Hold, error) {
	matches, err := filepath.Glob(filepath.Join(s.root, "holds", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Hold
	for _, m := range matches {
		data, err := os.ReadFile(m)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		var h Hold
		if err := json.Unmarshal(data, &h); err != nil {
			return nil, fmt.Errorf("hold %s: %w", m, err)
		}
		out = append(out, h)
	}
	return out, nil
}
