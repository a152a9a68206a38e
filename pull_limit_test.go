//go:build linux

package hull

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/testutil"
)

// TestWithMaxConcurrentDownloads: a pull fetches at most n layers at once
// (the registry counts the layer GETs in flight, each held 50 ms so that
// they would overlap), 4 by default; n < 1 is refused by Open.
func TestWithMaxConcurrentDownloads(t *testing.T) {
	t.Parallel()
	if _, err := Open(t.Context(), WithRoot(t.TempDir()), WithMaxConcurrentDownloads(0)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("WithMaxConcurrentDownloads(0): %v, want ErrInvalidArgument", err)
	}
	var inFlight, peak atomic.Int32
	slow := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") && strings.HasPrefix(r.URL.Path, "/v2/test/layers/") {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(50 * time.Millisecond)
			}
			next.ServeHTTP(w, r)
		})
	}
	reg := testutil.StartRegistry(t, testutil.WithMiddleware(slow))
	var img testutil.Image
	for i := range 6 {
		img.Layers = append(img.Layers, testutil.Layer{Files: []testutil.File{{Name: "f" + strconv.Itoa(i), Body: []byte(strconv.Itoa(i))}}})
	}
	pushed := reg.Push(t, "test/layers:1", img)
	for _, tc := range []struct {
		opts []Option
		want int32
	}{
		{[]Option{WithMaxConcurrentDownloads(1)}, 1},
		{[]Option{WithMaxConcurrentDownloads(2)}, 2},
		{nil, 4},
	} {
		peak.Store(0)
		rt := openTest(t, tc.opts...)
		if _, err := rt.Pull(t.Context(), pushed.Ref); err != nil {
			t.Fatal(err)
		}
		// At most n; and more than one when allowed, or nothing would
		// show that the bound is what serialises them. (The config blob
		// is fetched on its own, before the layers.)
		if got := peak.Load(); got > tc.want || got < min(tc.want, 2) {
			t.Errorf("%d layer fetches at once, want %d (at least 2)", got, tc.want)
		}
	}
}
