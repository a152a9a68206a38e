//go:build linux

package hull

import (
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/testutil"
)

// TestConcurrentPullTwoProcesses pulls one image into one root from two
// processes at once: both succeed and one copy of each blob is stored.
func TestConcurrentPullTwoProcesses(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	counts, count := testutil.CountRequests()
	reg := testutil.StartRegistry(t, testutil.WithMiddleware(count))
	img := testutil.BusyboxImage(t)
	img.Layers = append(img.Layers,
		testutil.Layer{Files: []testutil.File{{Name: "big", Body: make([]byte, 8<<20)}}, Compression: testutil.Gzip},
		testutil.Layer{Files: []testutil.File{{Name: "more", Body: []byte("x")}}, Compression: testutil.Zstd})
	pushed := reg.Push(t, "test/concurrent:1", img)
	root := t.TempDir()
	a, b := runHelper(t, root, pushed.Ref), runHelper(t, root, pushed.Ref)
	if err := a.Wait(); err != nil {
		t.Errorf("process A: %v", err)
	}
	if err := b.Wait(); err != nil {
		t.Errorf("process B: %v", err)
	}
	rt := openTest(t, WithRoot(root))
	got, err := rt.Image(t.Context(), pushed.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest() != pushed.ManifestDigest {
		t.Errorf("digest %s, want %s", got.Digest(), pushed.ManifestDigest)
	}
	blobs, _ := os.ReadDir(filepath.Join(root, "content/blobs/sha256"))
	want := len(pushed.LayerDigests) + 2 // + config + manifest
	if len(blobs) != want {
		t.Errorf("%d blobs stored, want %d", len(blobs), want)
	}
	for _, d := range pushed.LayerDigests {
		if n := counts.BlobGets(d.String()); n != 1 {
			t.Errorf("layer %s downloaded %d times, want once", d, n)
		}
	}
	mountImage(t, rt, got) // unpacked and mountable
	if leftovers := tempLeftovers(t, root); len(leftovers) > 0 {
		t.Errorf("leftovers: %v", leftovers)
	}
}

// tempLeftovers lists ingest files and temp snapshots under a root.
func tempLeftovers(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	ingest, _ := os.ReadDir(filepath.Join(root, "content/ingest"))
	for _, e := range ingest {
		out = append(out, "ingest/"+e.Name())
	}
	snaps, _ := os.ReadDir(filepath.Join(root, "snapshots"))
	for _, e := range snaps {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			out = append(out, "snapshots/"+e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func TestInterruptedPullThenRetry(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t, testutil.WithMiddleware(testutil.CutAfter(64<<10)))
	img := testutil.BusyboxImage(t)
	pushed := reg.Push(t, "test/cut:1", img)
	rt := openTest(t)
	before := rootListing(t, rt.Root())
	if _, err := rt.Pull(t.Context(), pushed.Ref); err == nil {
		t.Fatal("pull through a connection cut mid-blob succeeded")
	}
	if left := tempLeftovers(t, rt.Root()); len(left) > 0 {
		t.Errorf("failed pull left %v", left)
	}
	if after := rootListing(t, rt.Root()); len(after) != len(before) {
		t.Errorf("failed pull changed the root: %v -> %v", before, after)
	}
	got, err := rt.Pull(t.Context(), pushed.Ref)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	mountImage(t, rt, got)
}

// TestCrashedPullCleanedByOpen kills a pulling process mid-blob (SIGKILL)
// and checks that the next Open removes what it left.
func TestCrashedPullCleanedByOpen(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	var stalled atomic.Bool
	stall := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") && !strings.HasSuffix(r.URL.Path, "/uploads/") {
				bw := &bufferedWriter{header: http.Header{}}
				next.ServeHTTP(bw, r)
				if bw.buf.Len() > 1<<20 {
					for k, v := range bw.header {
						w.Header()[k] = v
					}
					w.WriteHeader(bw.code)
					w.Write(bw.buf.Bytes()[:bw.buf.Len()/2])
					w.(http.Flusher).Flush()
					stalled.Store(true)
					<-r.Context().Done() // hang until the client dies
					return
				}
				for k, v := range bw.header {
					w.Header()[k] = v
				}
				w.WriteHeader(bw.code)
				w.Write(bw.buf.Bytes())
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	reg := testutil.StartRegistry(t, testutil.WithMiddleware(stall))
	img := testutil.BusyboxImage(t)
	img.Layers = append(img.Layers, testutil.Layer{Files: []testutil.File{{Name: "big", Body: make([]byte, 4<<20)}}})
	pushed := reg.Push(t, "test/crash:1", img)
	root := t.TempDir()
	child := runHelper(t, root, pushed.Ref)
	deadline := time.Now().Add(30 * time.Second)
	for !stalled.Load() || len(tempLeftovers(t, root)) == 0 {
		if time.Now().After(deadline) {
			child.Process.Kill()
			child.Wait()
			t.Fatal("the child never got stuck mid-blob")
		}
		time.Sleep(10 * time.Millisecond)
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	if left := tempLeftovers(t, root); len(left) == 0 {
		t.Fatal("the killed pull left nothing to clean: the test proves nothing")
	}
	rt := openTest(t, WithRoot(root))
	if left := tempLeftovers(t, root); len(left) > 0 {
		t.Errorf("Open left %v", left)
	}
	if _, err := rt.Image(t.Context(), pushed.Ref); err == nil {
		t.Error("a crashed pull produced an image")
	}
}
