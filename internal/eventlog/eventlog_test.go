package eventlog

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEventsLogRotation: a follower reads every event in order across a
// rotation, and a replay with since reads the rotated file first.
func TestEventsLogRotation(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), FileName)
	start := time.Now()
	f, err := Open(path, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan Record, 100)
	go func() {
		Follow(ctx, f, path, time.Time{}, time.Time{}, func(ev Record) bool {
			got <- ev
			return true
		})
		close(got)
	}()
	pad := strings.Repeat("x", 200)
	n := 0
	for ; n < 20000; n++ {
		appendEvent(path, Record{Time: time.Now(), Type: "image", Action: "tag", ID: pad, Name: strconv.Itoa(n)})
		if _, err := os.Stat(path + ".1"); err == nil && n > 100 {
			break
		}
	}
	appendEvent(path, Record{Time: time.Now(), Type: "image", Action: "tag", ID: pad, Name: strconv.Itoa(n + 1)})
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Fatalf("no rotation after %d events: %v", n, err)
	}
	for i := 0; i <= n+1; i++ {
		select {
		case ev := <-got:
			if ev.Name != strconv.Itoa(i) {
				t.Fatalf("event %d is %q", i, ev.Name)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("stuck at event %d of %d", i, n+1)
		}
	}
	cancel()
	// Replay: the rotated file, then the new one.
	f2, err := Open(path, start)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	Follow(t.Context(), f2, path, start, time.Now(), func(Record) bool { count++; return true })
	if count != n+2 {
		t.Errorf("replayed %d events, want %d", count, n+2)
	}
}

// BenchmarkAppend is what one event costs the action that emits it.
func BenchmarkAppend(b *testing.B) {
	path := filepath.Join(b.TempDir(), FileName)
	ev := Record{Time: time.Now(), Type: "container", Action: "start", ID: strings.Repeat("a", 64),
		Attributes: map[string]string{"name": "x", "image": "busybox:test"}}
	var w Writer
	defer w.Close()
	for b.Loop() {
		w.Append(path, ev)
	}
}

// appendEvent appends ev to the log at path with a writer of its own.
func appendEvent(path string, ev Record) {
	w := Writer{closed: true}
	w.Append(path, ev)
}
