package hull

import (
	"context"
	"slices"
	"testing"
	"time"

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
		out = append(out, e.Type+" "+e.Action)
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
	ch := rt.Events(t.Context())

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
	if evs[0].ID != pulled.ID().String() || evs[0].Name == "" {
		t.Errorf("pull event %+v", evs[0])
	}
	die := evs[3]
	if die.ID != c.ID() || die.Name != "ev" || die.Attributes["exitCode"] != "3" || die.Time.IsZero() {
		t.Errorf("die event %+v", die)
	}
	if evs[4].Attributes["imageID"] != committed.ID().String() {
		t.Errorf("commit event %+v", evs[4])
	}
	// A commit keeps its parent's manifest format.
	if mt := committed.Inspect().Descriptor.MediaType; mt != mediaTypeDockerManifest {
		t.Errorf("commit of a Docker image has manifest type %s", mt)
	}
	if ls := committed.Layers(); ls[len(ls)-1].MediaType != mediaTypeDockerLayerTar {
		t.Errorf("committed layer type %s", ls[len(ls)-1].MediaType)
	}
	if evs[9].ID != committed.ID().String() {
		t.Errorf("delete event %+v", evs[9])
	}
}

func TestEventsEndWithContextAndClose(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	ch := rt.Events(ctx)
	ch2 := rt.Events(t.Context())
	cancel()
	if _, ok := <-ch; ok {
		t.Error("event on a cancelled subscription")
	}
	// A subscriber that never reads loses events but never blocks the runtime.
	for range eventBuffer + 10 {
		rt.events.emit(EventImage, "tag", "x", "y", nil)
	}
	rt.Close()
	n := 0
	for range ch2 {
		n++
	}
	if n != eventBuffer {
		t.Errorf("slow subscriber got %d events, want the first %d", n, eventBuffer)
	}
	if _, ok := <-rt.Events(t.Context()); ok {
		t.Error("Events on a closed runtime is open")
	}
}

func TestEventsOOM(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ch := rt.Events(t.Context())
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
