package logfile

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func collect(t *testing.T, path string, o ReadOptions) []Entry {
	t.Helper()
	var out []Entry
	if err := Read(t.Context(), path, o, func(e Entry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func text(es []Entry) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString(e.Stream[:3] + ":" + e.Log)
	}
	return b.String()
}

func TestWriteRead(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "container.log")
	w, err := Create(path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	w.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	var tee strings.Builder
	out, errs := w.Stream("stdout", &tee), w.Stream("stderr", nil)
	out.Write([]byte("one\ntw"))
	errs.Write([]byte("err\n"))
	out.Write([]byte("o\nthree\nunfinished"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if tee.String() != "one\ntwo\nthree\nunfinished" {
		t.Errorf("tee %q", tee.String())
	}
	if got, want := text(collect(t, path, ReadOptions{})), "std:one\nstd:err\nstd:two\nstd:three\nstd:unfinished"; got != want {
		t.Errorf("all:\n%q\nwant\n%q", got, want)
	}
	if got, want := text(collect(t, path, ReadOptions{Tail: 2})), "std:three\nstd:unfinished"; got != want {
		t.Errorf("tail: %q, want %q", got, want)
	}
	since := time.Date(2024, 1, 1, 0, 0, 3, 0, time.UTC) // the third entry
	if got, want := text(collect(t, path, ReadOptions{Since: since, Tail: 10})), "std:two\nstd:three\nstd:unfinished"; got != want {
		t.Errorf("since: %q, want %q", got, want)
	}
	if n := len(collect(t, filepath.Join(t.TempDir(), "none"), ReadOptions{})); n != 0 {
		t.Errorf("missing file: %d entries", n)
	}
}

func TestFollow(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "container.log")
	var done atomic.Bool
	got := make(chan string, 10)
	errc := make(chan error, 1)
	go func() {
		errc <- Read(context.Background(), path, ReadOptions{Follow: true, Done: done.Load, Poll: 5 * time.Millisecond},
			func(e Entry) error { got <- e.Log; return nil })
	}()
	w, err := Create(path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	s := w.Stream("stdout", nil)
	s.Write([]byte("a\n"))
	if l := <-got; l != "a\n" {
		t.Fatalf("got %q", l)
	}
	s.Write([]byte("b\n"))
	w.Close()
	done.Store(true)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if l := <-got; l != "b\n" {
		t.Fatalf("got %q", l)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Read(ctx, path, ReadOptions{Follow: true}, func(Entry) error { return nil }); err != context.Canceled {
		t.Errorf("cancelled follow: %v", err)
	}
}
