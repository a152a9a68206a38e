package spawn

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWarmShimNeverReady: a warm shim that dies before it is ready, or
// never gets ready, is given up in bounded time (Detached starts and
// Close wait for one being started), and leaves no process behind.
func TestWarmShimNeverReady(t *testing.T) {
	hang := filepath.Join(t.TempDir(), "hang")
	if err := os.WriteFile(hang, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, exe string }{
		{"dies", "/bin/false"}, // exits at once, never ready
		{"hangs", hang},        // runs on, never ready
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.exe); err != nil {
				t.Skipf("%s: %v", tc.exe, err)
			}
			old := warmShimReadyLimit
			warmShimReadyLimit = 300 * time.Millisecond
			defer func() { warmShimReadyLimit = old }()
			var s Spawner
			defer s.Close()
			done := make(chan error, 1)
			go func() {
				w, err := s.startWarmShim(tc.exe)
				if w != nil {
					w.discard()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("a shim that never got ready was taken as ready")
				}
				t.Log(err)
			case <-time.After(10 * time.Second):
				t.Fatal("still waiting for a shim that will never be ready")
			}
		})
	}
}
