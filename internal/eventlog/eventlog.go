// Package eventlog is the on-disk log of a hull root's events: every
// Runtime appends its events to <root>/events.log, one JSON object per
// line, each with one write(2) on an O_APPEND file so that lines from
// several processes never interleave. When it grows past MaxSize it is
// renamed to events.log.1 (replacing the previous one) under
// <root>/events.lock; readers notice the new file by its inode. The
// public Event API (hull's events.go) stands on it.
package eventlog

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

const (
	// FileName is the log's name in a hull root.
	FileName = "events.log"
	// MaxSize is the size past which the log is rotated.
	MaxSize = 1 << 20
	poll    = 25 * time.Millisecond
)

// Record is an event as stored in the log (hull.Event's fields).
type Record struct {
	Time       time.Time         `json:"time"`
	Type       string            `json:"type"`
	Action     string            `json:"action"`
	ID         string            `json:"id"`
	Name       string            `json:"name,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Writer keeps the events log open between events (opening it is most
// of an event's cost) and reopens it when another process rotated it.
// The zero Writer is ready to use.
type Writer struct {
	mu     sync.Mutex
	f      *os.File
	closed bool // after Close, each event opens and closes the log
}

// Append appends rec to the log at path and rotates the log when it is
// too big. Errors are dropped: an event never fails the action.
func (w *Writer) Append(path string, rec Record) {
	data, err := json.Marshal(rec)
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
	if fi, err := w.f.Stat(); err == nil && fi.Size() > MaxSize {
		rotate(path, fi)
	}
}

// Close closes the log; later Appends open and close it each time.
func (w *Writer) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// rotate renames the log to .1 unless another process did already.
func rotate(path string, written os.FileInfo) {
	l, err := fsutil.LockFile(filepath.Join(filepath.Dir(path), "events.lock"), fsutil.Exclusive)
	if err != nil {
		return
	}
	defer l.Unlock()
	if cur, err := os.Stat(path); err == nil && os.SameFile(cur, written) && cur.Size() > MaxSize {
		_ = os.Rename(path, path+".1")
	}
}

// Open opens the log at path for Follow: at its end, or when since is
// set at its start (the rotated log is read first by Follow). It creates
// the log if missing, so that the position is taken now: events appended
// after it returns are not missed.
func Open(path string, since time.Time) (*os.File, error) {
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

// Follow calls fn with each record read from f (Open) and then from the
// log at path as it grows and rotates, keeping those at or after since
// (and reading the rotated log first when since is set), until ctx ends,
// fn returns false, or until (if set) has passed and the log has been
// read to its end. It closes f.
func Follow(ctx context.Context, f *os.File, path string, since, until time.Time, fn func(Record) bool) {
	r := bufio.NewReader(f)
	var partial []byte
	defer func() { f.Close() }()
	keep := func(rec *Record) bool { return since.IsZero() || !rec.Time.Before(since) }
	if !since.IsZero() {
		if old, err := os.Open(path + ".1"); err == nil {
			_, ok := readRecords(bufio.NewReader(old), nil, keep, fn)
			old.Close()
			if !ok {
				return
			}
		}
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		var ok bool
		if partial, ok = readRecords(r, partial, keep, fn); !ok {
			return
		}
		// Rotated? Then, once what is left of the old file is read, go
		// on with the new one from its start.
		if cur, err := os.Stat(path); err == nil {
			if fi, err := f.Stat(); err == nil && !os.SameFile(cur, fi) {
				if _, ok := readRecords(r, partial, keep, fn); !ok {
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

// readRecords reads whole lines from r (the first starting with
// partial), passes the kept records to fn and returns the unfinished
// last line; ok is false once fn returned false.
func readRecords(r *bufio.Reader, partial []byte, keep func(*Record) bool, fn func(Record) bool) ([]byte, bool) {
	for {
		chunk, err := r.ReadBytes('\n')
		partial = append(partial, chunk...)
		if err != nil {
			return partial, true // EOF (or a read error: try again later)
		}
		line := bytes.TrimSpace(partial)
		partial = nil
		var rec Record
		if len(line) == 0 || json.Unmarshal(line, &rec) != nil {
			continue
		}
		if keep(&rec) && !fn(rec) {
			return nil, false
		}
	}
}
