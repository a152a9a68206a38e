package hull

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/statedir"
)

// names lists the containers Containers(WithAllContainers()) returns, by
// name with their status and label v as the listing read them (Inspect
// would read each state again): "a:exited:1 b:running:".
func names(t *testing.T, rt *Runtime) string {
	t.Helper()
	list, err := rt.Containers(t.Context(), WithAllContainers())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range list {
		c.mu.Lock()
		out = append(out, c.st.Name+":"+string(c.st.view())+":"+c.st.Labels["v"])
		c.mu.Unlock()
	}
	return strings.Join(out, " ")
}

// The listing cache (statedir.ReadStates) never hides a change another
// process made: a container removed, one started again, a state rewritten
// behind it, a new one; and a second listing reads the exited ones from
// the cache.
func TestContainersListCache(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	for _, n := range []string{"a", "b", "c"} {
		c, err := rt.Run(ctx, "busybox:test", WithName(n), WithNetworkMode("none"), WithCmd("true"), WithLabels(map[string]string{"v": "1"}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The lister owns none of them: what it lists is what it read.
	lister, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer lister.Close()
	if got, want := names(t, lister), "c:exited:1 b:exited:1 a:exited:1"; got != want {
		t.Fatalf("first listing: %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(rt.containersDir(), recoveryDirName, "listing")); err != nil {
		t.Fatalf("no listing cache: %v", err)
	}
	b, err := rt.Container(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, lister), "c:exited:1 b:exited:1 a:exited:1"; got != want {
		t.Fatalf("second listing: %q, want %q", got, want)
	}

	// Another process (a Runtime of its own) changes things.
	other, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	oa, err := other.Container(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := oa.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	oc, err := other.Container(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	oc.mu.Lock()
	oc.st.Labels = map[string]string{"v": "2"} // same size, same tick: a new file
	err = writeState(other.containerDir(oc.id), &oc.st)
	oc.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	d, err := other.Create(ctx, "busybox:test", WithName("d"), WithNetworkMode("none"), WithCmd("sleep", "100"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Remove(context.Background(), WithForce()) })
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, lister), "d:running: c:exited:2 b:exited:1"; got != want {
		t.Errorf("listing after another process's changes: %q, want %q", got, want)
	}
	if err := b.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, lister), "d:running: c:exited:2"; got != want {
		t.Errorf("the other process's listing: %q, want %q", got, want)
	}
}

// Names are found and checked by the name index: a link per name, made by
// Create, dropped by Remove, stale links (a Create that died, a container
// gone) ignored and replaced, and put right by Open for a root without
// the index.
func TestNameIndex(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	dir := rt.containersDir()
	c, err := rt.Create(ctx, "busybox:test", WithName("web"), WithNetworkMode("none"))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := statedir.NameOwner(dir, "web"); err != nil || id != c.ID() {
		t.Fatalf("web links to %q, %v; want %s", id, err, c.ID())
	}
	if _, err := rt.Create(ctx, "busybox:test", WithName("web")); !errors.Is(err, ErrConflict) {
		t.Errorf("second web: %v, want ErrConflict", err)
	}
	// A link to a container that has no state (its Create died) or does
	// not exist does not hold the name.
	noState := strings.Repeat("ab", 32)
	if err := os.MkdirAll(filepath.Join(dir, noState), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, stale := range []string{noState, newID()} {
		if err := statedir.LinkName(dir, "db", stale); err != nil {
			t.Fatal(err)
		}
		if _, err := rt.Container(ctx, "db"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Container(db) over a stale link: %v, want ErrNotFound", err)
		}
		db, err := rt.Create(ctx, "busybox:test", WithName("db"), WithNetworkMode("none"))
		if err != nil {
			t.Fatalf("Create over a stale link: %v", err)
		}
		if err := db.Remove(ctx); err != nil {
			t.Fatal(err)
		}
		if id, _ := statedir.NameOwner(dir, "db"); id != "" {
			t.Errorf("db links to %s after Remove", id)
		}
	}
	os.RemoveAll(filepath.Join(dir, noState))
	// A root whose index is gone (an older hull's): Open makes it.
	if err := os.RemoveAll(filepath.Join(dir, ".names")); err != nil {
		t.Fatal(err)
	}
	again, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got, err := again.Container(ctx, "web"); err != nil || got.ID() != c.ID() {
		t.Fatalf("Container(web) after Open rebuilt the index: %v, %v", got, err)
	}
	if _, err := again.Create(ctx, "busybox:test", WithName("web")); !errors.Is(err, ErrConflict) {
		t.Errorf("web after Open rebuilt the index: %v, want ErrConflict", err)
	}
	if err := c.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := again.Container(ctx, "web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Container(web) after Remove: %v, want ErrNotFound", err)
	}
	// Two Runtimes (their own locks, as two processes) race for a name:
	// one wins.
	var wg sync.WaitGroup
	var won atomic.Int32
	for i := range 8 {
		r := []*Runtime{rt, again}[i%2]
		wg.Go(func() {
			c, err := r.Create(ctx, "busybox:test", WithName("race"), WithNetworkMode("none"))
			if err == nil {
				won.Add(1)
				t.Cleanup(func() { c.Remove(context.Background(), WithForce()) })
			} else if !errors.Is(err, ErrConflict) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := won.Load(); n != 1 {
		t.Errorf("%d Creates of the same name won, want 1", n)
	}
}

// fill sets every exported field of v, down through structs, slices,
// maps and pointers, to a value that is not its zero value.
func fill(v reflect.Value, seed int) {
	switch v.Interface().(type) {
	case time.Time:
		v.Set(reflect.ValueOf(time.Date(2026, 12, 7, 19, 0, seed, 123456789, time.UTC)))
		return
	case netip.Addr:
		v.Set(reflect.ValueOf(netip.AddrFrom4([4]byte{10, 0, 0, byte(seed)})))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", seed))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(-seed - 1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(seed + 1))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), seed+1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fill(v.Index(0), seed+1)
		fill(v.Index(1), seed+2)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, seed+1)
		fill(e, seed+2)
		v.SetMapIndex(k, e)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), seed+i)
			}
		}
	}
}

// Every field of a container's state survives the listing cache: a
// state with all of them set lists the same from its file and from the
// cache.
func TestListingCacheKeepsEveryField(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	var st containerState
	fill(reflect.ValueOf(&st).Elem(), 0)
	st.ID, st.Status, st.AutoRemove, st.Pid = newID(), StatusExited, false, 0
	dir := rt.containerDir(st.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeState(dir, &st); err != nil {
		t.Fatal(err)
	}
	want, err := readState(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // parsed, then cached
		got, _, err := rt.readStates(false)
		if err != nil || len(got) != 1 {
			t.Fatalf("listing %d: %d states, %v", i, len(got), err)
		}
		if !reflect.DeepEqual(got[0], want) {
			t.Errorf("listing %d:\n got %+v\nwant %+v", i, got[0], want)
		}
	}
	data, err := os.ReadFile(filepath.Join(rt.containersDir(), recoveryDirName, "listing"))
	if err != nil || !bytes.Contains(data, []byte(st.ID)) {
		t.Errorf("the cache holds no entry for the state (%v)", err)
	}
}

// A Detached container whose creator is gone exits with only its shim's
// exit.json to say so: the listing caches that exit (its stamp), the
// Container it returns answers Inspect without reading the state again,
// and still sees the container started again by another process.
func TestListedDetachedExit(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	creator, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := creator.Run(ctx, "busybox:test", WithName("det"), WithDetached(), WithNetworkMode("none"), WithCmd("sleep", "0.2"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Remove(context.Background(), WithForce()) })
	if err := creator.Close(); err != nil {
		t.Fatal(err)
	}
	lister, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer lister.Close()
	deadline := time.Now().Add(10 * time.Second)
	for names(t, lister) != "det:exited:" {
		if time.Now().After(deadline) {
			t.Fatalf("listing %q: the container never exited", names(t, lister))
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, stamps, err := lister.readStates(false)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := stamps[c.ID()]; !ok {
		t.Fatal("the exit merged from exit.json is not cached")
	}
	list, err := lister.Containers(ctx, WithAllContainers())
	if err != nil || len(list) != 1 {
		t.Fatalf("%d containers, %v", len(list), err)
	}
	listed := list[0]
	in, err := listed.Inspect(ctx)
	if err != nil || in.State.Status != StatusExited || in.State.StartedAt.IsZero() {
		t.Fatalf("inspect of the listed container: %+v, %v", in.State, err)
	}
	first := in.State.StartedAt

	// Another process starts it again: the listed object sees it.
	other, err := Open(ctx, WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	oc, err := other.Container(ctx, "det")
	if err != nil {
		t.Fatal(err)
	}
	if err := oc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	in, err = listed.Inspect(ctx)
	if err != nil || !in.State.StartedAt.After(first) || in.State.Status == StatusExited && in.State.FinishedAt.Before(in.State.StartedAt) {
		t.Fatalf("inspect after another process started it again: %+v, %v", in.State, err)
	}
	if _, err := oc.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if in, err = listed.Inspect(ctx); err != nil || in.State.Status != StatusExited || in.Image == "" {
		t.Fatalf("inspect once it exited again: image %q, %+v, %v", in.Image, in.State, err)
	}
}

// Once an Open's recovery has settled the exited containers, a listing
// takes their cached states without a stat (statedir.View); still every
// change another process makes shows: a state written (listed as
// unsettled by writeState, then settled again by another Open), a
// container removed, a new one.
func TestListingViewAfterSettle(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	for _, n := range []string{"a", "b"} {
		c, err := rt.Run(ctx, "busybox:test", WithName(n), WithNetworkMode("none"), WithCmd("true"), WithLabels(map[string]string{"v": "1"}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	open := func() *Runtime {
		t.Helper()
		o, err := Open(ctx, WithRoot(rt.Root()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		return o
	}
	// Settles a and b (unless their owner's last write lists one again
	// after Wait returned: then that one is read from its file, as it
	// must be).
	lister := open()
	for i := range 2 { // parsed, then trusted
		if got, want := names(t, lister), "b:exited:1 a:exited:1"; got != want {
			t.Fatalf("listing %d: %q, want %q", i, got, want)
		}
	}
	other := open()
	oa, err := other.Container(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	oa.mu.Lock()
	oa.st.Labels = map[string]string{"v": "2"}
	err = writeState(other.containerDir(oa.id), &oa.st)
	oa.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, lister), "b:exited:1 a:exited:2"; got != want {
		t.Fatalf("after a write: %q, want %q", got, want)
	}
	open() // settles a again: a new generation
	for i := range 2 {
		if got, want := names(t, lister), "b:exited:1 a:exited:2"; got != want {
			t.Fatalf("listing %d after another settle: %q, want %q", i, got, want)
		}
	}
	ob, err := other.Container(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Create(ctx, "busybox:test", WithName("d"), WithNetworkMode("none"), WithCmd("true")); err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, lister), "d:created: a:exited:2"; got != want {
		t.Fatalf("after a remove and a create: %q, want %q", got, want)
	}
	// A Remove that died half done left its renamed directory: the
	// next listing removes it (Open no longer looks, but on a new boot).
	gone := filepath.Join(rt.containersDir(), statedir.RemovingPrefix+newID())
	if err := os.MkdirAll(filepath.Join(gone, "rootfs", "etc"), 0o700); err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, lister), "d:created: a:exited:2"; got != want {
		t.Fatalf("with a half-removed directory: %q, want %q", got, want)
	}
	if _, err := os.Stat(gone); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the half-removed directory is still there (%v)", err)
	}
}
