// Package logfile keeps a container's output on disk as JSON lines, one
// object per line of output, in Docker's json-file format:
//
//	{"log":"hello\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}
//
// so that logs outlive the process that started the container and any
// process can read them. The Writer is used by the one process that copies
// the container's output; Read works from anywhere, while it is written.
//
// With Limits, the Writer rotates the log as Docker's json-file driver
// does with max-size and max-file: path is the live file, path.1 the one
// before it, up to path.<MaxFiles-1>, the oldest; Read goes through them
// in order and follows across rotations (rotate.go).
package logfile

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// maxLine is how much of a line without a newline is kept before it is
// written as a partial entry (Docker uses 16 KiB too).
const maxLine = 16 << 10

// Entry is one line of output.
type Entry struct {
	Log    string    `json:"log"` // the line, with its "\n" unless partial
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// Writer appends entries to a log file. Its streams may be written
// concurrently; Close flushes what is left of unfinished lines.
type Writer struct {
	mu      sync.Mutex
	f       *os.File
	path    string
	lim     Limits
	size    int64 // of f
	rotated int   // how many rotated files there may be: path.1 .. path.<rotated>
	streams []*stream
	now     func() time.Time
}

// Create opens (creating if needed) the log file at path for appending,
// rotated as lim says. Rotated files beyond lim.MaxFiles that an earlier
// writer with a larger limit left are removed.
func Create(path string, lim Limits) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	w := &Writer{f: f, path: path, lim: lim, size: fi.Size(), now: time.Now}
	if lim.MaxSize > 0 {
		w.rotated = topRotated(path)
		for i := lim.files(); i <= w.rotated; i++ {
			_ = os.Remove(rotatedName(path, i))
		}
		w.rotated = min(w.rotated, lim.files()-1)
	}
	return w, nil
}

// Stream returns a writer for the named stream ("stdout", "stderr") that
// logs every line written to it and also copies the bytes, unchanged, to
// tee when tee is not nil. An error from tee does not stop the logging.
func (w *Writer) Stream(name string, tee io.Writer) io.Writer {
	s := &stream{w: w, name: name, tee: tee}
	w.mu.Lock()
	w.streams = append(w.streams, s)
	w.mu.Unlock()
	return s
}

// Close writes out unfinished lines and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	for _, s := range w.streams {
		if len(s.buf) > 0 {
			w.writeLocked(s.name, s.buf)
			s.buf = nil
		}
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// writeLocked writes one entry with one write(2) on an O_APPEND file, so
// that a reader never sees two entries interleaved. An entry that would
// take the file past MaxSize goes to a new file (rotateLocked).
func (w *Writer) writeLocked(stream string, line []byte) {
	if w.f == nil {
		return
	}
	data, err := json.Marshal(Entry{Log: string(line), Stream: stream, Time: w.now().UTC()})
	if err != nil {
		return
	}
	data = append(data, '\n')
	if w.lim.MaxSize > 0 && w.size > 0 && w.size+int64(len(data)) > w.lim.MaxSize {
		if err := w.rotateLocked(); err != nil {
			// Keep logging to the file we have: losing output is
			// worse than a late rotation, retried MaxSize bytes on.
			w.size = 0
		}
	}
	n, _ := w.f.Write(data)
	w.size += int64(n)
}

// rotateLocked moves path.i to path.i+1 (the last one falls off), path to
// path.1, and starts a new path. Renames go oldest first, so that a file
// only ever moves to a higher number (Read's successor relies on it); with
// MaxFiles 1 the live file is removed instead.
func (w *Writer) rotateLocked() error {
	n := w.lim.files()
	if n == 1 {
		if err := os.Remove(w.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	// Only the files there are: MaxFiles may be large.
	for i := min(w.rotated+1, n-1); i >= 1; i-- {
		err := os.Rename(rotatedName(w.path, i-1), rotatedName(w.path, i))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	w.f.Close()
	w.f, w.size, w.rotated = f, 0, min(w.rotated+1, n-1)
	return nil
}

type stream struct {
	w    *Writer
	name string
	tee  io.Writer
	buf  []byte // the unfinished line; under w.mu
}

func (s *stream) Write(p []byte) (int, error) {
	if s.tee != nil {
		_, _ = s.tee.Write(p)
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	rest := p
	for len(rest) > 0 {
		i := indexByte(rest, '\n')
		if i < 0 {
			s.buf = append(s.buf, rest...)
			if len(s.buf) >= maxLine {
				s.w.writeLocked(s.name, s.buf)
				s.buf = s.buf[:0]
			}
			break
		}
		line := rest[:i+1]
		if len(s.buf) > 0 {
			line = append(s.buf, line...)
			s.buf = s.buf[:0]
		}
		s.w.writeLocked(s.name, line)
		rest = rest[i+1:]
	}
	return len(p), nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
