package netsetup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
)

// Record is what a root keeps of a network, in networks/<id>/network.json
// beside its ipam.json.
type Record struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Created  time.Time         `json:"created"`
	Bridge   string            `json:"bridge"` // the Linux bridge device
	Subnet   netip.Prefix      `json:"subnet"`
	Gateway  netip.Addr        `json:"gateway"`
	IPRange  netip.Prefix      `json:"ipRange,omitzero"`
	Internal bool              `json:"internal,omitempty"`
	Default  bool              `json:"default,omitempty"` // hull's "bridge" network
	Labels   map[string]string `json:"labels,omitempty"`
}

// WriteRecord writes rec as the network.json of the network directory
// dir, synced.
func WriteRecord(dir string, rec *Record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, "network.json"), data, 0o600, fsutil.Sync())
}

// ReadRecords reads the record of every network under dir (a root's
// networks directory), sorted by name. Directories without one (a create
// or remove under way) are skipped.
func ReadRecords(dir string) ([]Record, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, e := range entries {
		if !e.IsDir() || len(e.Name()) != 64 {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), "network.json"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var rec Record
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, fmt.Errorf("network %s: %w", e.Name(), err)
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Errors of Find.
var (
	ErrNoNetwork = errors.New("no such network")
	ErrAmbiguous = errors.New("ambiguous network ID prefix")
)

// Find looks a network up in recs by full ID, then name, then unique ID
// prefix (hex digits only). Failures wrap ErrNoNetwork or ErrAmbiguous.
func Find(recs []Record, idOrName string) (*Record, error) {
	for i := range recs {
		if recs[i].ID == idOrName {
			return &recs[i], nil
		}
	}
	for i := range recs {
		if recs[i].Name == idOrName {
			return &recs[i], nil
		}
	}
	var found *Record
	if idOrName != "" && strings.Trim(idOrName, "0123456789abcdef") == "" {
		for i := range recs {
			if strings.HasPrefix(recs[i].ID, idOrName) {
				if found != nil {
					return nil, fmt.Errorf("%w %q", ErrAmbiguous, idOrName)
				}
				found = &recs[i]
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("network %s: %w", idOrName, ErrNoNetwork)
	}
	return found, nil
}
