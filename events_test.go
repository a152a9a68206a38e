//go:build linux

package hull

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/manifest"
	"github.com/hullbox/hull/internal/testutil"
)

// nextEvents reads n events, failing the test if they do not come.
func nextEvents(t *testing.T, ch <-chan Event, n int) []Event {
	t.Helper()
	var out []Event
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %v", out)
			}
			out = append(out, e)
		case <-timeout:
			t.Fatalf("got %d events, want %d: %v", len(out), n, out)
		}
	}
	return out
}

func actions(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Type)+" "+e.Action)
	}
	return out
}

func TestEvents(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	img := testutil.BusyboxImage(t)
	img.Docker = true
	pushed := reg.Push(t, "test/busybox:ev", img)
	rt := openTest(t)
	ch := events(t, rt)

	pulled, err := rt.Pull(t.Context(), pushed.Ref)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rt.Run(t.Context(), pushed.Ref, WithName("ev"), WithCmd("sh", "-c", "echo > /f; exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	committed, err := c.Commit(t.Context(), "ev:snap")
	if err != nil {
		t.Fatal(err)
	}
	// A commit keeps its parent's manifest format (checked before
	// RemoveImage below: Inspect of a removed image is ErrNotFound).
	if mt := inspect(t, committed).Descriptor.MediaType; mt != manifest.MediaTypeDockerManifest {
		t.Errorf("commit of a Docker image has manifest type %s", mt)
	}
	if err := c.Remove(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := rt.Tag(t.Context(), pushed.Ref, "other:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RemoveImage(t.Context(), "other:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RemoveImage(t.Context(), "ev:snap"); err != nil {
		t.Fatal(err)
	}
	evs := nextEvents(t, ch, 10)
	want := []string{
		"image pull", "container create", "container start", "container die", "container commit",
		"container destroy", "image tag", "image untag", "image untag", "image delete",
	}
	if got := actions(evs); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if evs[0].ID != pulled.ID() || evs[0].Name == "" {
		t.Errorf("pull event %+v", evs[0])
	}
	die := evs[3]
	if die.ID != c.ID() || die.Name != "ev" || die.Attributes["exitCode"] != "3" || die.Time.IsZero() {
		t.Errorf("die event %+v", die)
	}
	if evs[4].Attributes["imageID"] != committed.ID() {
		t.Errorf("commit event %+v", evs[4])
	}
	if ls := committed.Layers(); ls[len(ls)-1].MediaType != manifest.MediaTypeDockerLayerTar {
		t.Errorf("committed layer type %s", ls[len(ls)-1].MediaType)
	}
	if evs[9].ID != committed.ID() {
		t.Errorf("delete event %+v", evs[9])
	}
}

// events subscribes to rt's events until the test ends.
func events(t *testing.T, rt *Runtime, opts ...EventsOption) <-chan Event {
	t.Helper()
	ch, err := rt.Events(t.Context(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestEventsEndWithContextAndClose(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	ch, _ := rt.Events(ctx)
	ch2 := events(t, rt)
	cancel()
	for range ch {
		t.Error("event on a cancelled subscription")
	}
	// A subscriber that does not read holds no one up, and loses
	// nothing: its events wait in the log.
	n := eventBuffer + 50
	for i := range n {
		rt.events.emit(EventImage, "tag", "x", strconv.Itoa(i), nil)
	}
	for i, e := range nextEvents(t, ch2, n) {
		if e.Name != strconv.Itoa(i) {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	rt.Close()
	for range ch2 {
		t.Error("event after Close")
	}
	if ch, err := rt.Events(t.Context()); err != nil {
		t.Error(err)
	} else if _, ok := <-ch; ok {
		t.Error("Events on a closed runtime is open")
	}
	if _, err := rt.Events(t.Context(), WithEventsFilter("colour", "red")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad filter: %v", err)
	}
}

// TestEventsAcrossProcesses: a child process runs and removes a
// container; this process sees its events, live and replayed with
// since/until and filters.
func TestEventsAcrossProcesses(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	start := time.Now()
	ch := events(t, rt, WithEventsFilter("container", "evchild"))
	imgs := events(t, rt, WithEventsFilter("type", string(EventImage)))
	cmd := helperCmd(rt.Root(), "events", "HULL_TEST_NAME=evchild")
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("helper: %v %s", err, out)
	}
	evs := nextEvents(t, ch, 4)
	if got := actions(evs); !slices.Equal(got, []string{"container create", "container start", "container die", "container destroy"}) {
		t.Fatalf("events %q", got)
	}
	if evs[2].Attributes["exitCode"] != "2" || evs[2].Name != "evchild" || evs[2].Attributes["image"] != "busybox:test" {
		t.Errorf("die event %+v", evs[2])
	}
	// Replay: the die event only, then the channel closes (until is past).
	old := events(t, rt, WithEventsSince(start), WithEventsUntil(time.Now()), WithEventsFilter("event", "die"), WithEventsFilter("image", "busybox:test"))
	var replay []Event
	for e := range old {
		replay = append(replay, e)
	}
	if len(replay) != 1 || replay[0].ID != evs[2].ID {
		t.Errorf("replayed %v", replay)
	}
	select {
	case e := <-imgs:
		t.Errorf("image event %+v from a filter on containers", e)
	default:
	}
}

func TestEventsOOM(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ch := events(t, rt)
	st, out, err := run(t, rt, WithMemory(32<<20),
		WithCmd("sh", "-c", `x=$(head -c 100000000 /dev/zero | tr "\0" x); echo survived`))
	if err != nil || !st.OOMKilled {
		t.Skipf("no OOM kill here (%+v %v %q)", st, err, out)
	}
	evs := nextEvents(t, ch, 4)
	if got := actions(evs); !slices.Equal(got, []string{"container create", "container start", "container oom", "container die"}) {
		t.Fatalf("events %q", got)
	}
	if evs[3].Attributes["exitCode"] != "137" {
		t.Errorf("die event %+v", evs[3])
	}
}
