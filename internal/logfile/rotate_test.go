package logfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// numbers returns the numbers of lines "<n>\n" read, in order.
func numbers(t *testing.T, es []Entry) []int {
	t.Helper()
	ns := make([]int, 0, len(es))
	for _, e := range es {
		n, err := strconv.Atoi(strings.TrimSuffix(e.Log, "\n"))
		if err != nil {
			t.Fatalf("entry %q", e.Log)
		}
		ns = append(ns, n)
	}
	return ns
}

// checkRun fails unless ns is first, first+1, ... last.
func checkRun(t *testing.T, ns []int, last int) {
	t.Helper()
	if len(ns) == 0 || ns[len(ns)-1] != last {
		t.Fatalf("want a run ending at %d, got %d numbers ending %v", last, len(ns), ns[max(0, len(ns)-3):])
	}
	for i := 1; i < len(ns); i++ {
		if ns[i] != ns[i-1]+1 {
			t.Fatalf("gap or repeat: %d then %d", ns[i-1], ns[i])
		}
	}
}

func diskUse(t *testing.T, dir string) (total int64, names []string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
		names = append(names, e.Name())
	}
	return total, names
}

func TestRotate(t *testing.T) {
	t.Parallel()
	for _, lim := range []Limits{{MaxSize: 1000, MaxFiles: 3}, {MaxSize: 1000, MaxFiles: 1}, {MaxSize: 1000}} {
		t.Run(fmt.Sprintf("%d-%d", lim.MaxSize, lim.MaxFiles), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "container.log")
			w, err := Create(path, lim)
			if err != nil {
				t.Fatal(err)
			}
			s := w.Stream("stdout", nil)
			for i := range 1000 {
				fmt.Fprintf(s, "%d\n", i)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			total, names := diskUse(t, dir)
			if n := lim.files(); len(names) != n || total > lim.MaxSize*int64(n) {
				t.Errorf("%d files, %d bytes: %v", len(names), total, names)
			}
			for _, name := range names {
				if fi, _ := os.Stat(filepath.Join(dir, name)); fi.Size() > lim.MaxSize {
					t.Errorf("%s: %d bytes", name, fi.Size())
				}
			}
			all := numbers(t, collect(t, path, ReadOptions{}))
			checkRun(t, all, 999)
			tail := numbers(t, collect(t, path, ReadOptions{Tail: 20}))
			if len(tail) != min(20, len(all)) {
				t.Errorf("tail 20: %d entries", len(tail))
			}
			checkRun(t, tail, 999)
			// A new writer (a restart) goes on from the size there is,
			// and removes files beyond a smaller limit.
			w, err = Create(path, Limits{MaxSize: lim.MaxSize, MaxFiles: 1})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(w.Stream("stdout", nil), "%d\n", 1000)
			w.Close()
			if _, names := diskUse(t, dir); len(names) != 1 {
				t.Errorf("after a restart with 1 file: %v", names)
			}
			checkRun(t, numbers(t, collect(t, path, ReadOptions{})), 1000)
		})
	}
}

// TestFollowRotation: a follower sees every line once, in order, while
// the log is rotated under it many times; the writer stays within the
// kept window of the follower (else lines are lost, as with Docker).
func TestFollowRotation(t *testing.T) {
	t.Parallel()
	for _, files := range []int{1, 2, 3} {
		t.Run(strconv.Itoa(files), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "container.log")
			w, err := Create(path, Limits{MaxSize: 2000, MaxFiles: files})
			if err != nil {
				t.Fatal(err)
			}
			const lines = 5000
			var seen atomic.Int64
			seen.Store(-1)
			var done atomic.Bool
			var got []int
			errc := make(chan error, 1)
			go func() {
				errc <- Read(t.Context(), path, ReadOptions{Follow: true, Done: done.Load, Poll: time.Millisecond}, func(e Entry) error {
					n, err := strconv.Atoi(strings.TrimSuffix(e.Log, "\n"))
					if err != nil {
						return fmt.Errorf("entry %q", e.Log)
					}
					got = append(got, n)
					seen.Store(int64(n))
					return nil
				})
			}()
			s := w.Stream("stdout", nil)
			for i := range lines {
				// A file holds about 25 lines: keep within one file of
				// the reader, whose file may be rotated out otherwise.
				for int64(i)-seen.Load() > 10 {
					time.Sleep(10 * time.Microsecond)
				}
				fmt.Fprintf(s, "%d\n", i)
			}
			w.Close()
			done.Store(true)
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if got[0] != 0 {
				t.Errorf("first %d", got[0])
			}
			checkRun(t, got, lines-1)
		})
	}
}

// TestFollowRotatedOut: a follower that falls behind by more than the
// kept files loses what fell off, but never sees a line twice or out of
// order, and goes on with the oldest line kept.
func TestFollowRotatedOut(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "container.log")
	w, err := Create(path, Limits{MaxSize: 2000, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	s := w.Stream("stdout", nil)
	hold := make(chan struct{})
	first := make(chan struct{})
	var got []int
	var done atomic.Bool
	errc := make(chan error, 1)
	go func() {
		errc <- Read(t.Context(), path, ReadOptions{Follow: true, Done: done.Load, Poll: time.Millisecond}, func(e Entry) error {
			n, _ := strconv.Atoi(strings.TrimSuffix(e.Log, "\n"))
			got = append(got, n)
			if n == 0 {
				close(first)
				<-hold // the writer goes on meanwhile
			}
			return nil
		})
	}()
	fmt.Fprintf(s, "%d\n", 0)
	<-first
	for i := 1; i < 1000; i++ {
		fmt.Fprintf(s, "%d\n", i)
	}
	close(hold)
	w.Close()
	done.Store(true)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	kept := numbers(t, collect(t, path, ReadOptions{}))
	// 0, the rest of 0's file, then what is kept now, oldest first.
	if got[0] != 0 || got[len(got)-1] != 999 {
		t.Fatalf("got %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("%d then %d", got[i-1], got[i])
		}
	}
	i := len(got) - len(kept)
	if i < 1 {
		t.Fatalf("read %d, %d kept", len(got), len(kept))
	}
	checkRun(t, got[i:], 999)
	if got[i] != kept[0] {
		t.Errorf("after the gap: %d, oldest kept %d", got[i], kept[0])
	}
}

// TestFollowRotationRace: followers of a writer that does not wait for
// them may lose what is rotated out before they get to it, but see each
// line at most once, in order, up to the last.
func TestFollowRotationRace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "container.log")
	w, err := Create(path, Limits{MaxSize: 4000, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	const lines, readers = 20000, 4
	var done atomic.Bool
	type result struct {
		got []int
		err error
	}
	results := make(chan result, readers)
	for range readers {
		go func() {
			var got []int
			err := Read(t.Context(), path, ReadOptions{Follow: true, Done: done.Load, Poll: time.Millisecond}, func(e Entry) error {
				n, err := strconv.Atoi(strings.TrimSuffix(e.Log, "\n"))
				got = append(got, n)
				return err
			})
			results <- result{got, err}
		}()
	}
	s := w.Stream("stdout", nil)
	for i := range lines {
		fmt.Fprintf(s, "%d\n", i)
	}
	w.Close()
	done.Store(true)
	for range readers {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		for i := 1; i < len(r.got); i++ {
			if r.got[i] <= r.got[i-1] {
				t.Fatalf("%d then %d", r.got[i-1], r.got[i])
			}
		}
		if len(r.got) == 0 || r.got[len(r.got)-1] != lines-1 {
			t.Fatalf("%d lines, not up to the last", len(r.got))
		}
		t.Logf("a follower read %d of %d lines", len(r.got), lines)
	}
}
