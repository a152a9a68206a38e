package logfile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
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

// Read calls fn for each selected entry of the log at path, in order,
// from the oldest rotated file kept (Limits) to the live one; a follower
// goes on across rotations, each entry once. A missing file is an empty
// log. Lines that are not valid entries (a torn write after a crash) are
// skipped.
func Read(ctx context.Context, path string, o ReadOptions, fn func(Entry) error) error {
	c := &cursor{path: path}
	defer c.close()
	found, err := c.openOldest()
	if err != nil {
		return err
	}
	if !found && !o.Follow {
		return nil
	}
	emit := func(line []byte) error {
		var e Entry
		if json.Unmarshal(line, &e) != nil || !o.Since.IsZero() && e.Time.Before(o.Since) {
			return nil
		}
		return fn(e)
	}
	if o.Tail > 0 && found {
		if err := c.tail(o, emit); err != nil {
			return err
		}
	}
	poll := o.Poll
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	for {
		if c.f != nil {
			if err := c.readAll(emit); err != nil {
				return err
			}
		}
		if !o.Follow {
			return nil
		}
		if o.Done != nil && o.Done() {
			// One last look: what was written before it ended.
			if c.f == nil {
				if found, err := c.openOldest(); !found || err != nil {
					return err
				}
			}
			return c.readAll(emit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
		if c.f == nil {
			if _, err := c.openOldest(); err != nil {
				return err
			}
		}
	}
}

// tail reads the log up to the live end and passes the last o.Tail
// entries (of those after o.Since) to emit.
func (c *cursor) tail(o ReadOptions, emit func([]byte) error) error {
	ring := make([][]byte, 0, o.Tail)
	pos := 0
	err := c.readAll(func(line []byte) error {
		if o.Since.IsZero() {
			// Decoded when emitted: a rotated log can hold many.
			if line[0] != '{' || line[len(line)-1] != '}' {
				return nil
			}
		} else {
			var e Entry
			if json.Unmarshal(line, &e) != nil || e.Time.Before(o.Since) {
				return nil
			}
		}
		if len(ring) < o.Tail {
			ring = append(ring, bytes.Clone(line))
		} else {
			ring[pos] = append(ring[pos][:0], line...)
			pos = (pos + 1) % o.Tail
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := range ring {
		if err := emit(ring[(pos+i)%len(ring)]); err != nil {
			return err
		}
	}
	return nil
}

// readAll passes every complete line of the cursor's file to fn, then
// those of the files that followed it, up to the end of the live file.
func (c *cursor) readAll(fn func([]byte) error) error {
	for {
		if err := c.scan(fn); err != nil {
			return err
		}
		next, err := c.successor()
		if err != nil || next == nil {
			return err
		}
		// Its last lines, written before next was made.
		if err := c.scan(fn); err != nil {
			next.Close()
			return err
		}
		c.set(next) // an unfinished last line was torn: dropped
	}
}

// scan passes the complete, non-empty lines from the cursor to its file's
// end to fn, and keeps what is left of an unfinished last line.
func (c *cursor) scan(fn func([]byte) error) error {
	for {
		chunk, err := c.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			c.partial = append(c.partial, chunk...)
			continue
		}
		line := chunk
		if len(c.partial) > 0 || errors.Is(err, io.EOF) {
			c.partial = append(c.partial, chunk...)
			line = c.partial
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if err := fn(line); err != nil {
				return err
			}
		}
		c.partial = c.partial[:0]
	}
}
