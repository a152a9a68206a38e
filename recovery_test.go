//go:build linux

package hull

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A state.json a machine crash left empty (it is renamed into place
// without fsync) must not break the root: the container is skipped and
// the next Open removes it and its image hold.
func TestLostStateRemovedAtOpen(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c, err := rt.Create(t.Context(), "busybox:test", WithNetworkMode("none"), WithCmd("true"))
	if err != nil {
		t.Fatal(err)
	}
	keep, err := rt.Create(t.Context(), "busybox:test", WithNetworkMode("none"), WithCmd("true"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keep.Remove(t.Context(), WithForce()) })
	if err := c.Remove(t.Context(), WithForce()); err != nil {
		t.Fatal(err)
	}
	// Recreate what a crash leaves: the directory, an empty state, a hold.
	dir := rt.containerDir(c.ID())
	if err := os.MkdirAll(filepath.Join(dir, "upper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rt.store.PutHold(holdFor(&c.st)); err != nil {
		t.Fatal(err)
	}
	list, err := rt.Containers(t.Context(), WithAllContainers())
	if err != nil {
		t.Fatalf("Containers with a lost state: %v", err)
	}
	if len(list) != 1 || list[0].ID() != keep.ID() {
		t.Fatalf("Containers = %d, want only %s", len(list), keep.ID())
	}
	rebooted(t, rt)
	rt2, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("lost container's directory after Open: %v", err)
	}
	holds, err := rt2.store.Holds()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range holds {
		if h.ID == c.ID() {
			t.Errorf("hold of the lost container kept")
		}
	}
}

// Image holds are written without fsync too: a machine crash may leave a
// container's hold empty or missing, or a hold whose container never
// reached the disk. Open puts back the first two and drops the third, so
// GC neither fails on an unreadable hold nor collects a container's image.
func TestLostHoldsRepairedAtOpen(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	var ctrs []*Container
	for range 2 {
		c, err := rt.Create(t.Context(), "busybox:test", WithNetworkMode("none"), WithCmd("true"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
		ctrs = append(ctrs, c)
	}
	holdFile := func(id string) string { return filepath.Join(rt.store.Root(), "holds", id+".json") }
	if _, err := os.Stat(holdFile(ctrs[0].ID())); err != nil {
		t.Fatalf("no hold file where expected: %v", err)
	}
	if err := os.WriteFile(holdFile(ctrs[0].ID()), nil, 0o600); err != nil { // empty
		t.Fatal(err)
	}
	if err := os.Remove(holdFile(ctrs[1].ID())); err != nil { // missing
		t.Fatal(err)
	}
	stray := newID()
	if err := os.WriteFile(holdFile(stray), []byte("{"), 0o600); err != nil { // no container
		t.Fatal(err)
	}
	if _, err := rt.store.Holds(); err == nil {
		t.Fatal("Holds read an empty hold file without error: the test sets up nothing")
	}
	rebooted(t, rt)
	rt2, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	holds, err := rt2.store.Holds()
	if err != nil {
		t.Fatalf("holds after Open: %v", err)
	}
	got := map[string]bool{}
	for _, h := range holds {
		got[h.ID] = true
		if h.ID == ctrs[0].ID() && h.Image != ctrs[0].st.ImageDigest {
			t.Errorf("repaired hold %+v, want image %s", h, ctrs[0].st.ImageDigest)
		}
	}
	if !got[ctrs[0].ID()] || !got[ctrs[1].ID()] || got[stray] {
		t.Errorf("holds after Open: %v; want both containers' and not %s", got, stray)
	}
}

// rebooted makes the next Open of rt's root take the machine for
// rebooted since the last (what a crash that tears states and holds
// does): it reads every state, not only the unsettled ones.
func rebooted(t *testing.T, rt *Runtime) {
	t.Helper()
	if err := os.WriteFile(rt.bootRecordPath(), []byte("another boot"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Open's recovery looks at the unsettled containers only: every one that
// is created, running or paused, or exited and not yet seen by an Open,
// or to be removed. An Open drops the settled ones from the list; a root
// without the list (an older hull's) gets it at its first Open; Remove
// drops its container once its files are gone.
func TestUnsettledList(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	running, err := rt.Run(ctx, "busybox:test", WithNetworkMode("none"), WithCmd("sleep", "100"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { running.Remove(context.Background(), WithForce()) })
	exited, err := rt.Run(ctx, "busybox:test", WithNetworkMode("none"), WithCmd("true"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exited.Remove(context.Background(), WithForce()) })
	if _, err := exited.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	created, err := rt.Create(ctx, "busybox:test", WithNetworkMode("none"), WithCmd("true"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { created.Remove(context.Background(), WithForce()) })
	check := func(step string, want ...*Container) {
		t.Helper()
		ids, err := rt.unsettledIDs()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, id := range ids {
			got[id] = true
		}
		for _, c := range want {
			if !got[c.ID()] {
				t.Errorf("%s: %s not listed as unsettled", step, c.Name())
			}
			delete(got, c.ID())
		}
		if len(got) > 0 {
			t.Errorf("%s: listed as unsettled too: %v", step, got)
		}
	}
	open := func() {
		t.Helper()
		again, err := Open(ctx, WithRoot(rt.Root()))
		if err != nil {
			t.Fatal(err)
		}
		again.Close()
	}
	check("before Open", running, exited, created)
	open()
	check("after Open", running, created)
	if err := os.RemoveAll(filepath.Join(rt.containersDir(), recoveryDirName)); err != nil {
		t.Fatal(err)
	}
	open()
	check("after Open of a root without the list", running, created)
	if _, err := os.Stat(rt.bootRecordPath()); err != nil {
		t.Errorf("no boot recorded: %v", err)
	}
	if err := running.Remove(ctx, WithForce()); err != nil {
		t.Fatal(err)
	}
	rt.ctrs.dirDel.Wait() // unlisted once its files are gone (cleanup)
	check("after Remove", created)
	if err := exited.Start(ctx); err != nil {
		t.Fatal(err)
	}
	check("after Start of an exited one", created, exited)
}

// A Remove whose process died while the container's files were being
// deleted in the background (cleanup: the directory renamed out of sight
// first) leaves them to the next Open, which deletes them: the container
// stays listed as unsettled until they have gone. Open reads only the
// unsettled list, not the whole containers directory, once a boot.
func TestOpenFinishesDeadRemove(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	c, err := rt.Run(ctx, "busybox:test", WithNetworkMode("none"), WithCmd("true"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// What cleanup does before its background deletion, as a process
	// that dies there leaves it: renamed, still unsettled.
	gone := filepath.Join(rt.containersDir(), ".removing-"+c.ID())
	if err := os.Rename(rt.containerDir(c.ID()), gone); err != nil {
		t.Fatal(err)
	}
	if err := markUnsettled(rt.containersDir(), c.ID()); err != nil {
		t.Fatal(err)
	}
	again, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("Open left the files of a Remove that died: %v", err)
	}
	if ids, err := again.unsettledIDs(); err != nil || slices.Contains(ids, c.ID()) {
		t.Errorf("still unsettled: %q %v", ids, err)
	}
}

// Volume removal holds the containers lock while it lists the containers
// that use the volume: the listing must not take that lock again (flock
// locks of two descriptors exclude each other, in one process too), nor
// for the anonymous volumes Remove WithRemoveVolumes takes.
func TestVolumeRemoveBesideContainers(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	if _, err := rt.Create(ctx, "busybox:test", WithName("bystander"), WithNetworkMode("none")); err != nil {
		t.Fatal(err)
	}
	vol, err := rt.CreateVolume(ctx, "data")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rt.Create(ctx, "busybox:test", WithNetworkMode("none"), WithAnonymousVolume("/data"), WithCmd("true"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- vol.Remove(ctx) }()
	go func() { done <- c.Remove(ctx, WithRemoveVolumes()) }()
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("volume removal hangs on the containers lock")
		}
	}
}
