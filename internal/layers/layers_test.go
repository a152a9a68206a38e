package layers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hullbox/hull/internal/manifest"
	"github.com/hullbox/hull/internal/snapshot"
	"github.com/hullbox/hull/internal/store"
	"github.com/hullbox/hull/internal/testutil"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// image pushes a two-layer image, the top one gzip compressed with a
// hardlink to a file of the bottom one, and returns its layers.
func image(t *testing.T) (*testutil.Registry, []ocispec.Descriptor, []digest.Digest) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: unpacking keeps owners")
	}
	r := testutil.StartRegistry(t)
	pushed := r.Push(t, "test/layers:1", testutil.Image{Layers: []testutil.Layer{
		{Files: []testutil.File{{Name: "etc/", Type: '5'}, {Name: "etc/base", Body: []byte("bottom")}}},
		{Compression: testutil.Gzip, Files: []testutil.File{{Name: "etc/link", Type: '1', Linkname: "etc/base"}}},
	}})
	m, err := manifest.Parse(ocispec.MediaTypeImageManifest, pushed.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	return r, m.Layers, pushed.DiffIDs
}

func puller(t *testing.T, r *testutil.Registry) (*Puller, *[]string) {
	t.Helper()
	root := t.TempDir()
	st, err := store.Open(filepath.Join(root, "store"))
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := snapshot.Open(filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reports []string
	repo := r.Repository(t, "test/layers")
	return &Puller{
		Store: st, Snaps: snaps, Parallel: 2,
		Fetch: func(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) { return repo.Fetch(ctx, d) },
		Report: func(d ocispec.Descriptor, status string) {
			mu.Lock()
			defer mu.Unlock()
			reports = append(reports, status)
		},
	}, &reports
}

// TestEnsure: the layers are fetched, stored, unpacked (the hardlink into
// the lower layer resolved) and reported; a second Ensure finds them.
func TestEnsure(t *testing.T) {
	t.Parallel()
	r, descs, diffIDs := image(t)
	p, reports := puller(t, r)
	chains := manifest.ChainIDs(diffIDs)
	size, err := p.Ensure(t.Context(), descs, diffIDs, chains)
	if err != nil || size != int64(len("bottom")) {
		t.Fatalf("Ensure = %d, %v", size, err)
	}
	for i, d := range descs {
		if _, ok := p.Store.HasBlob(d.Digest); !ok || !p.Snaps.Exists(chains[i]) {
			t.Errorf("layer %d: blob stored %v, snapshot %v", i, ok, p.Snaps.Exists(chains[i]))
		}
	}
	if data, err := os.ReadFile(filepath.Join(p.Snaps.Path(chains[1]), "etc/link")); err != nil || string(data) != "bottom" {
		t.Errorf("etc/link in the top layer = %q, %v", data, err)
	}
	if got := *reports; len(got) != 4 || got[0] != "Waiting" || got[3] != "Pull complete" {
		t.Errorf("reports = %q", got)
	}
	*reports = nil
	p.Fetch = nil // everything is stored: nothing to fetch
	if _, err := p.Ensure(t.Context(), descs, diffIDs, chains); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	if got := *reports; len(got) != 4 || got[3] != "Already exists" {
		t.Errorf("second reports = %q", got)
	}
}

// TestEnsureRefuses: a diff ID the layer does not hash to is
// ErrInvalidContent, a blob neither stored nor fetchable ErrNotStored;
// neither leaves a snapshot.
func TestEnsureRefuses(t *testing.T) {
	t.Parallel()
	r, descs, diffIDs := image(t)
	p, _ := puller(t, r)
	bad := []digest.Digest{digest.FromString("not the tar")}
	_, err := p.Ensure(t.Context(), descs[:1], bad, manifest.ChainIDs(bad))
	if !errors.Is(err, ErrInvalidContent) || p.Snaps.Exists(manifest.ChainIDs(bad)[0]) {
		t.Errorf("Ensure with a wrong diff ID: %v", err)
	}
	p.Fetch = nil
	chains := manifest.ChainIDs(diffIDs)
	if _, err := p.Ensure(t.Context(), descs[1:], diffIDs[1:], chains[1:]); !errors.Is(err, ErrNotStored) || p.Snaps.Exists(chains[1]) {
		t.Errorf("Ensure of an unstored blob without Fetch: %v", err)
	}
}

// TestCheckDiffID: a stored blob checks against the diff ID of its tar,
// compressed or not, and fails ErrInvalidContent against another.
func TestCheckDiffID(t *testing.T) {
	t.Parallel()
	r, descs, diffIDs := image(t)
	p, _ := puller(t, r)
	if _, err := p.Ensure(t.Context(), descs, diffIDs, manifest.ChainIDs(diffIDs)); err != nil {
		t.Fatal(err)
	}
	for i, d := range descs {
		if err := CheckDiffID(t.Context(), p.Store, d.Digest, diffIDs[i]); err != nil {
			t.Errorf("layer %d: %v", i, err)
		}
	}
	if err := CheckDiffID(t.Context(), p.Store, descs[1].Digest, diffIDs[0]); !errors.Is(err, ErrInvalidContent) {
		t.Errorf("against another layer's diff ID: %v", err)
	}
	if err := CheckDiffID(t.Context(), p.Store, digest.FromString("absent"), diffIDs[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("of a missing blob: %v", err)
	}
}

// TestAdd: a tar is stored as a blob named by its diff ID and unpacked;
// alone, a hardlink to a file it lacks is ErrInvalidContent. AddDiff
// stores a directory's tree the same way.
func TestAdd(t *testing.T) {
	t.Parallel()
	r, _, _ := image(t) // for the root check
	p, _ := puller(t, r)
	tar := testutil.TarBytes(t, []testutil.File{{Name: "f", Body: []byte("x")}})
	a, err := Add(t.Context(), p.Store, p.Snaps, bytes.NewReader(tar), true)
	if err != nil {
		t.Fatal(err)
	}
	if a.DiffID != digest.FromBytes(tar) || a.Size != int64(len(tar)) || a.Result.Size != 1 {
		t.Errorf("Add = %+v", a)
	}
	if data, err := os.ReadFile(filepath.Join(a.Pending.Dir, "f")); err != nil || string(data) != "x" {
		t.Errorf("unpacked f = %q, %v", data, err)
	}
	a.Pending.Abort()
	dangling := testutil.TarBytes(t, []testutil.File{{Name: "l", Type: '1', Linkname: "absent"}})
	if _, err := Add(t.Context(), p.Store, p.Snaps, bytes.NewReader(dangling), true); !errors.Is(err, ErrInvalidContent) {
		t.Errorf("Add of a dangling hardlink: %v", err)
	}
	upper := t.TempDir()
	if err := os.WriteFile(filepath.Join(upper, "g"), []byte("yz"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(upper, "skip"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := AddDiff(t.Context(), p.Store, p.Snaps, upper, []string{"skip"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Pending.Abort()
	if _, ok := p.Store.HasBlob(d.DiffID); !ok || d.Result.Size != 2 {
		t.Errorf("AddDiff = %+v", d)
	}
	if _, err := os.Stat(filepath.Join(d.Pending.Dir, "skip")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("excluded dir unpacked: %v", err)
	}
}
