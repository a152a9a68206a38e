package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
	digest "github.com/opencontainers/go-digest"
)

func TestBlobWriterVerifies(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("hello blob")
	d := digest.FromBytes(data)
	tests := []struct {
		name     string
		expected digest.Digest
		size     int64
		write    []byte
		wantErr  bool
	}{
		{"good", d, int64(len(data)), data, false},
		{"unknown digest and size", "", -1, data, false},
		{"wrong digest", digest.FromString("other"), int64(len(data)), data, true},
		{"short", d, int64(len(data)) + 1, data, true},
	}
	for _, tc := range tests {
		w, err := s.NewWriter(tc.expected, tc.size)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(tc.write)
		got, err := w.Commit()
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: Commit = %v, %v", tc.name, got, err)
		}
		if tc.wantErr && !errors.Is(err, ErrDigestMismatch) {
			t.Errorf("%s: error %v does not wrap ErrDigestMismatch", tc.name, err)
		}
	}
	if size, ok := s.HasBlob(d); !ok || size != int64(len(data)) {
		t.Errorf("HasBlob = %d, %v", size, ok)
	}
	if got, err := s.ReadBlob(d, 100); err != nil || string(got) != string(data) {
		t.Errorf("ReadBlob = %q, %v", got, err)
	}
	// Writing past the announced size fails at once.
	w, _ := s.NewWriter(d, 3)
	if _, err := w.Write(data); err == nil {
		t.Error("write beyond the announced size succeeded")
	}
	w.Abort()
	if entries, _ := os.ReadDir(filepath.Join(s.Root(), "ingest")); len(entries) != 0 {
		t.Errorf("ingest not empty: %v", entries)
	}
}

func TestOpenRemovesAbandonedIngest(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	live, _ := s.NewWriter("", -1) // locked: must survive
	live.Write([]byte("in progress"))
	dead := filepath.Join(root, "ingest", "deadbeef")
	os.WriteFile(dead, []byte("crashed writer"), 0o600)
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("abandoned ingest file kept: %v", err)
	}
	if _, err := live.Commit(); err != nil {
		t.Errorf("live writer broken by Open: %v", err)
	}
}

// TestUpdateIndexSerialises runs concurrent read-modify-write cycles from
// separate Store handles (as separate processes would) and checks that no
// update is lost.
func TestUpdateIndexSerialises(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(root)
			if err != nil {
				t.Error(err)
				return
			}
			err = s.UpdateIndex(context.Background(), func(ix *Index) error {
				ix.SetTag(fmt.Sprintf("t:%d", i), digest.FromString(fmt.Sprint(i)), time.Now())
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	s, _ := Open(root)
	ix, err := s.ReadIndex()
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Tags) != 20 {
		t.Errorf("%d tags after 20 concurrent updates", len(ix.Tags))
	}
}

func TestLockExcludes(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir())
	l, err := s.Lock(t.Context(), "x")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Lock = %v, want to wait until the deadline", err)
	}
	l.Unlock()
	l2, err := s.Lock(t.Context(), "x")
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	l2.Unlock()
	if _, err := s.Lock(t.Context(), "../x"); err == nil {
		t.Error("lock name with a slash accepted")
	}
}

func TestHolds(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir())
	h := Hold{ID: "c1", Image: digest.FromString("m"), Snapshots: []digest.Digest{digest.FromString("s")}}
	if err := s.PutHold(h); err != nil {
		t.Fatal(err)
	}
	hs, err := s.Holds()
	if err != nil || len(hs) != 1 || hs[0].Image != h.Image {
		t.Fatalf("Holds = %+v, %v", hs, err)
	}
	if err := s.DeleteHold("c1"); err != nil {
		t.Fatal(err)
	}
	if hs, _ := s.Holds(); len(hs) != 0 {
		t.Errorf("hold not deleted: %+v", hs)
	}
	if err := s.PutHold(Hold{ID: "../evil"}); err == nil {
		t.Error("hold id with a slash accepted")
	}
}

// TestOpenBlobOfSize: the blob opens at its size; another size is
// ErrDigestMismatch, a missing blob fs.ErrNotExist.
func TestOpenBlobOfSize(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("pushed blob")
	w, err := s.NewWriter("", -1)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	d, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.OpenBlobOfSize(d, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := s.OpenBlobOfSize(d, int64(len(data))+1); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("wrong size: %v, want ErrDigestMismatch", err)
	}
	if _, err := s.OpenBlobOfSize(digest.FromString("absent"), 6); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing blob: %v, want fs.ErrNotExist", err)
	}
}

// Open skips reading holds while it is unchanged since an Open found no
// temp file there, and still finds one a writer dies leaving after that.
func TestOpenFindsTempAfterCleanLook(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	holds := filepath.Join(root, "holds")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(holds, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root); err != nil { // looks, finds none, records it
		t.Fatal(err)
	}
	if _, skip := fsutil.StatScanned(holds); !skip {
		t.Skip("no user extended attributes here: every Open reads holds")
	}
	dead := filepath.Join(holds, ".tmp-c1-123")
	if err := os.WriteFile(dead, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a dead writer's temp file in holds kept: %v", err)
	}
}
