package archive

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hullbox/hull/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestWriteDeepPaths: a tree deeper than PATH_MAX is written whole by every walk.
func TestWriteDeepPaths(t *testing.T) {
	requireRoot(t)
	lower, upper := t.TempDir(), t.TempDir()
	applyTar(t, lower, file("etc/passwd", "root\n", 0o644))
	want := testutil.DeepTree(t, upper, 60)
	if len(want) <= 4096 {
		t.Fatalf("path of %d bytes", len(want))
	}
	check := func(what string, data []byte, name string) {
		t.Helper()
		hdrs, _ := entries(t, data)
		if h := hdrs[name]; h == nil || h.Size != 7 {
			t.Errorf("%s: no %d-byte entry for the deep file", what, len(name))
		}
	}
	check("WriteTree", tarOf(t, func(w io.Writer) error { return WriteTree(t.Context(), w, upper) }), want)
	check("WriteDiff", tarOf(t, func(w io.Writer) error { return WriteDiff(t.Context(), w, upper) }), want)

	u := Union{Layers: []string{upper, lower}}
	check("export", tarOf(t, func(w io.Writer) error { return u.WriteTar(t.Context(), w, ".", "") }), want)
	rel, err := u.Resolve("/"+filepath.Dir(want), true)
	if err != nil {
		t.Fatal(err)
	}
	check("cp", tarOf(t, func(w io.Writer) error { return u.WriteTar(t.Context(), w, rel, "x") }), "x/f")

	chs, err := Changes(t.Context(), upper, []string{lower})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(chs, Change{Added, "/" + want}) {
		t.Errorf("Changes lacks the deep file (%d changes)", len(chs))
	}
}

// TestWalkSwapRace: while a goroutine exchanges a directory of the tree with a symlink
// to a directory outside it (renameat2 RENAME_EXCHANGE in a loop), no walk ever shows
// what is outside.
func TestWalkSwapRace(t *testing.T) {
	requireRoot(t)
	lower, upper, outside := t.TempDir(), t.TempDir(), t.TempDir()
	applyTar(t, lower, file("etc/passwd", "root\n", 0o644))
	const secret = "outside-secret-content"
	for _, name := range []string{"f", "outside-only"} {
		if err := os.WriteFile(filepath.Join(outside, name), []byte(secret), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	applyTar(t, upper, file("w/d/f", "mine", 0o644), symlinkEnt("w/l", outside))

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var swaps atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		d, l := filepath.Join(upper, "w/d"), filepath.Join(upper, "w/l")
		for ctx.Err() == nil {
			if unix.Renameat2(unix.AT_FDCWD, d, unix.AT_FDCWD, l, unix.RENAME_EXCHANGE) == nil {
				swaps.Add(1)
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	u := Union{Layers: []string{upper, lower}}
	leaked := func(what string, out []byte) {
		t.Helper()
		if bytes.Contains(out, []byte(secret)) || bytes.Contains(out, []byte("outside-only")) {
			t.Fatalf("%s read outside the tree", what)
		}
	}
	for range 300 {
		var buf bytes.Buffer
		_ = WriteTree(ctx, &buf, upper)
		leaked("WriteTree", buf.Bytes())
		buf.Reset()
		_ = WriteDiff(ctx, &buf, upper)
		leaked("WriteDiff", buf.Bytes())
		buf.Reset()
		_ = u.WriteTar(ctx, &buf, "w/d", "d")
		leaked("cp", buf.Bytes())
		chs, _ := Changes(ctx, upper, []string{lower})
		for _, ch := range chs {
			leaked("Changes", []byte(ch.Path))
		}
	}
	if swaps.Load() == 0 {
		t.Fatal("the racer never swapped")
	}
}
