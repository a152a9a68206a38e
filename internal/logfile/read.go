package logfile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"time"
)

// ReadOptions selects entries for Read.
type ReadOptions struct {
	// Since skips entries older than it. Zero: from the start.
	Since time.Time
	// Tail, when > 0, starts with only the last Tail entries (of those
	// after Since). Zero: all of them.
	Tail int
	// Follow keeps reading what is appended until Done reports true
	// (checked when the end of the file is reached) or ctx ends.
	Follow bool
	Done   func() bool
	// Poll is how often a followed file is checked. Default 50ms.
	Poll time.Duration
}

// Read calls fn for each selected entry of the log at path, in order. A
// missing file is an empty log. Lines that are not valid entries (a torn
// write after a crash) are skipped.
func Read(ctx context.Context, path string, o ReadOptions, fn func(Entry) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && !o.Follow {
		return nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if f != nil {
		defer f.Close()
	}
	keep := func(e *Entry) bool { return o.Since.IsZero() || !e.Time.Before(o.Since) }
	var r *bufio.Reader
	var partial []byte
	if f != nil {
		r = bufio.NewReaderSize(f, 64<<10)
		if o.Tail > 0 {
			ring := make([]Entry, 0, o.Tail)
			pos := 0
			partial, err = scanFrom(r, nil, func(e Entry) error {
				if !keep(&e) {
					return nil
				}
				if len(ring) < o.Tail {
					ring = append(ring, e)
				} else {
					ring[pos] = e
					pos = (pos + 1) % o.Tail
				}
				return nil
			})
			if err != nil {
				return err
			}
			for i := range ring {
				if err := fn(ring[(pos+i)%len(ring)]); err != nil {
					return err
				}
			}
		}
	}
	emit := func(e Entry) error {
		if !keep(&e) {
			return nil
		}
		return fn(e)
	}
	poll := o.Poll
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	for {
		if r != nil {
			var err error
			if partial, err = scanFrom(r, partial, emit); err != nil {
				return err
			}
		}
		if !o.Follow {
			return nil
		}
		if o.Done != nil && o.Done() {
			// One last look: what was written before it ended.
			if r == nil {
				if f, err = os.Open(path); err != nil {
					return nil
				}
				defer f.Close()
				r = bufio.NewReaderSize(f, 64<<10)
			}
			_, err := scanFrom(r, partial, emit)
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
		if r == nil {
			if f, err = os.Open(path); err == nil {
				defer f.Close()
				r = bufio.NewReaderSize(f, 64<<10)
			}
		}
	}
}

// scanFrom reads complete lines from r (the first starting with partial)
// and returns what is left of an unfinished last line.
func scanFrom(r *bufio.Reader, partial []byte, fn func(Entry) error) ([]byte, error) {
	for {
		chunk, err := r.ReadBytes('\n')
		partial = append(partial, chunk...)
		if errors.Is(err, io.EOF) {
			return partial, nil
		}
		if err != nil {
			return partial, err
		}
		var e Entry
		line := bytes.TrimSpace(partial)
		partial = partial[:0]
		if len(line) == 0 || json.Unmarshal(line, &e) != nil {
			continue
		}
		if err := fn(e); err != nil {
			return nil, err
		}
	}
}
