package hull

import (
	"os"
	"path/filepath"
	"testing"
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
	t.Cleanup(func() { keep.Remove(t.Context(), WithForceRemove()) })
	if err := c.Remove(t.Context(), WithForceRemove()); err != nil {
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
	list, err := rt.Containers(t.Context(), All())
	if err != nil {
		t.Fatalf("Containers with a lost state: %v", err)
	}
	if len(list) != 1 || list[0].ID() != keep.ID() {
		t.Fatalf("Containers = %d, want only %s", len(list), keep.ID())
	}
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
