package hull

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
	"golang.org/x/sys/unix"
)

// The events log: every Runtime appends its events to <root>/events.log,
// one JSON object per line, each with one write(2) on an O_APPEND file so
// that lines from several processes never interleave. When it grows past
// eventsLogMax it is renamed to events.log.1 (replacing the previous one)
// under <root>/events.lock; readers notice the new file by its inode.
const (
	eventsLogName = "events.log"
	eventsLogMax  = 1 << 20
	eventsPoll    = 25 * time.Millisecond
)

// eventRecord is an Event as stored in the log.
type eventRecord struct {
	Time       time.Time         `json:"time"`
	Type       EventType         `json:"type"`
	Action     string            `json:"action"`
	ID         string            `json:"id"`
	Name       string            `json:"name,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// eventWriter keeps the events log open between events (opening it is
// most of an event's cost) and reopens it when another process rotated
// it.
type eventWriter struct {
	mu     sync.Mutex
	f      *os.File
	closed bool // after close, each event opens and closes the log
}

// append appends ev to the log at path and rotates the log when it is
// too big. Errors are dropped: an event never fails the action.
func (w *eventWriter) append(path string, ev Event) {
	data, err := json.Marshal(eventRecord(ev))
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		cur, err := os.Stat(path)
		fi, ferr := w.f.Stat()
		if err != nil || ferr != nil || !os.SameFile(cur, fi) {
			w.f.Close() // rotated (or removed): write to the new one
			w.f = nil
		}
	}
	if w.f == nil {
		if w.f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_CLOEXEC, 0o600); err != nil {
			w.f = nil
			return
		}
	}
	if w.closed {
		defer func() { w.f.Close(); w.f = nil }()
	}
	if _, err := w.f.Write(append(data, '\n')); err != nil {
		return
	}
	if fi, err := w.f.Stat(); err == nil && fi.Size() > eventsLogMax {
		rotateEvents(path, fi)
	}
}

// close closes the log.
func (w *eventWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// rotateEvents renames the log to .1 unless another process did already.
func rotateEvents(path string, written os.FileInfo) {
	l, err := fsutil.LockFile(filepath.Join(filepath.Dir(path), "events.lock"), fsutil.Exclusive)
	if err != nil {
		return
	}
	defer l.Unlock()
	if cur, err := os.Stat(path); err == nil && os.SameFile(cur, written) && cur.Size() > eventsLogMax {
		_ = os.Rename(path, path+".1")
	}
}

// openEvents opens the log at path for following: at its end, or when
// since is set at its start (the rotated log is read first by
// followEvents). It creates the log if missing, so that the position is
// taken now: events appended after it returns are not missed.
func openEvents(path string, since time.Time) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if since.IsZero() {
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// followEvents calls fn with each event read from f (openEvents) and then
// from the log at path as it grows and rotates, keeping those at or after
// since (and reading the rotated log first when since is set), until ctx
// ends, fn returns false, or until (if set) has passed and the log has
// been read to its end. It closes f.
func followEvents(ctx context.Context, f *os.File, path string, since, until time.Time, fn func(Event) bool) {
	r := bufio.NewReader(f)
	var partial []byte
	defer func() { f.Close() }()
	keep := func(ev Event) bool { return since.IsZero() || !ev.Time.Before(since) }
	if !since.IsZero() {
		if old, err := os.Open(path + ".1"); err == nil {
			_, ok := readEvents(bufio.NewReader(old), nil, keep, fn)
			old.Close()
			if !ok {
				return
			}
		}
	}
	t := time.NewTicker(eventsPoll)
	defer t.Stop()
	for {
		var ok bool
		if partial, ok = readEvents(r, partial, keep, fn); !ok {
			return
		}
		// Rotated? Then, once what is left of the old file is read, go
		// on with the new one from its start.
		if cur, err := os.Stat(path); err == nil {
			if fi, err := f.Stat(); err == nil && !os.SameFile(cur, fi) {
				if _, ok := readEvents(r, partial, keep, fn); !ok {
					return
				}
				if nf, err := os.Open(path); err == nil {
					f.Close()
					f, r, partial = nf, bufio.NewReader(nf), nil
					continue
				}
			}
		}
		if !until.IsZero() && time.Now().After(until) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readEvents reads whole lines from r (the first starting with partial),
// passes the kept events to fn and returns the unfinished last line; ok
// is false once fn returned false.
func readEvents(r *bufio.Reader, partial []byte, keep func(Event) bool, fn func(Event) bool) ([]byte, bool) {
	for {
		chunk, err := r.ReadBytes('\n')
		partial = append(partial, chunk...)
		if err != nil {
			return partial, true // EOF (or a read error: try again later)
		}
		line := bytes.TrimSpace(partial)
		partial = nil
		var rec eventRecord
		if len(line) == 0 || json.Unmarshal(line, &rec) != nil {
			continue
		}
		if ev := Event(rec); keep(ev) && !fn(ev) {
			return nil, false
		}
	}
}
