package hull

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
	path := filepath.Join(t.TempDir(), eventsLogName)
	start := time.Now()
	f, err := openEvents(path, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan Event, 100)
	go func() {
		followEvents(ctx, f, path, time.Time{}, time.Time{}, func(ev Event) bool {
			got <- ev
			return true
		})
		close(got)
	}()
	pad := strings.Repeat("x", 200)
	n := 0
	for ; n < 20000; n++ {
		appendEvent(path, Event{Time: time.Now(), Type: EventImage, Action: "tag", ID: pad, Name: strconv.Itoa(n)})
		if _, err := os.Stat(path + ".1"); err == nil && n > 100 {
			break
		}
	}
	appendEvent(path, Event{Time: time.Now(), Type: EventImage, Action: "tag", ID: pad, Name: strconv.Itoa(n + 1)})
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
	f2, err := openEvents(path, start)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	followEvents(t.Context(), f2, path, start, time.Now(), func(Event) bool { count++; return true })
	if count != n+2 {
		t.Errorf("replayed %d events, want %d", count, n+2)
	}
}

// BenchmarkAppendEvent is what one event costs the action that emits it.
func BenchmarkAppendEvent(b *testing.B) {
	path := filepath.Join(b.TempDir(), eventsLogName)
	ev := Event{Time: time.Now(), Type: EventContainer, Action: "start", ID: strings.Repeat("a", 64),
		Attributes: map[string]string{"name": "x", "image": "busybox:test"}}
	var w eventWriter
	defer w.close()
	for b.Loop() {
		w.append(path, ev)
	}
}

// appendEvent appends ev to the log at path with a writer of its own.
func appendEvent(path string, ev Event) {
	w := eventWriter{closed: true}
	w.append(path, ev)
}
