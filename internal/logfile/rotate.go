package logfile

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Limits bound a log on disk, as Docker's json-file max-size and
// max-file: the log takes at most MaxSize*MaxFiles bytes (a single entry
// larger than MaxSize still gets a file of its own). The zero value
// keeps one file that grows without bound, as Docker's default.
type Limits struct {
	// MaxSize is the size in bytes a file may reach before the log goes
	// on in a new one. Zero: never rotated. Unlike Docker, which rotates
	// after the write that reaches max-size, an entry that would take the
	// file past MaxSize starts the next file, so that no file exceeds it.
	MaxSize int64 `json:"maxSize,omitempty"`
	// MaxFiles is how many files are kept, the live one included: with
	// 3, path, path.1 and path.2. Less than 1: 1 (each rotation then
	// starts the log afresh). Without MaxSize it has no effect.
	MaxFiles int `json:"maxFiles,omitempty"`
}

// files is how many files the log keeps.
func (l Limits) files() int {
	return max(l.MaxFiles, 1)
}

// rotatedName is the name of the i-th file of the log at path: path itself
// for 0 (the live file), else path.i (the higher, the older).
func rotatedName(path string, i int) string {
	if i == 0 {
		return path
	}
	return path + "." + strconv.Itoa(i)
}

// topRotated returns the highest i of the files path.i there are (0:
// none).
func topRotated(path string) int {
	ents, _ := os.ReadDir(filepath.Dir(path))
	prefix := filepath.Base(path) + "."
	top := 0
	for _, e := range ents {
		if n, ok := strings.CutPrefix(e.Name(), prefix); ok {
			if i, err := strconv.Atoi(n); err == nil && i > top && strconv.Itoa(i) == n {
				top = i
			}
		}
	}
	return top
}

// rotatedFiles returns the names of the files of the log at path that
// exist now, oldest first (path.N ... path.1, path).
func rotatedFiles(path string) []string {
	var names []string
	for i := topRotated(path); i >= 0; i-- {
		if _, err := os.Lstat(rotatedName(path, i)); err == nil {
			names = append(names, rotatedName(path, i))
		}
	}
	return names
}

// cursor is where Read is in a log that may be rotated under it: an open
// file of the log, and what is left of a line it has not finished.
type cursor struct {
	path    string
	f       *os.File
	r       *bufio.Reader
	partial []byte
}

// openOldest opens the oldest file of the log there is. It reports false
// when there is none.
func (c *cursor) openOldest() (bool, error) {
	for _, name := range rotatedFiles(c.path) {
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			continue // rotated out meanwhile: the next one is older than it was
		}
		if err != nil {
			return false, err
		}
		c.set(f)
		return true, nil
	}
	return false, nil
}

func (c *cursor) set(f *os.File) {
	if c.f != nil {
		c.f.Close()
	}
	c.f, c.partial = f, nil
	if c.r == nil {
		c.r = bufio.NewReaderSize(f, 64<<10)
	} else {
		c.r.Reset(f)
	}
}

func (c *cursor) close() {
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}

// successor returns the file written after the cursor's, or nil while the
// cursor's is the live file (or, for a moment during a rotation, it cannot
// be told). Everything written to the cursor's file was written before its
// successor exists, so that once successor returns one, the rest of the
// cursor's file can be read and the cursor moved on without a gap or a
// line read twice. A file that was rotated out (unlinked) is followed by
// the oldest there is now: what fell off in between is lost, as with
// Docker.
func (c *cursor) successor() (*os.File, error) {
	for try := 0; try < 50; try++ {
		if try > 0 {
			time.Sleep(time.Millisecond)
		}
		fi, err := c.f.Stat()
		if err != nil {
			return nil, err
		}
		if n, ok := linkCount(fi); ok && n == 0 {
			for _, name := range rotatedFiles(c.path) {
				if f, err := os.Open(name); err == nil {
					return f, nil
				}
			}
			return nil, nil // the log is gone, or being started again
		}
		// Where is it now? A file only moves up (rotateLocked), one step
		// per rotation: looking from 0 up, a file that keeps a name is
		// always found.
		k := -1
		for i := 0; k < 0; i++ {
			gi, err := os.Stat(rotatedName(c.path, i))
			if errors.Is(err, os.ErrNotExist) && i > 0 {
				if _, err := os.Stat(rotatedName(c.path, i+1)); errors.Is(err, os.ErrNotExist) {
					break
				}
				continue
			}
			if err == nil && os.SameFile(fi, gi) {
				k = i
			}
		}
		switch {
		case k == 0:
			return nil, nil // the live file
		case k < 0:
			continue // caught between renames
		}
		f, err := os.Open(rotatedName(c.path, k-1))
		if errors.Is(err, os.ErrNotExist) {
			continue // the new live file is not there yet
		}
		if err != nil {
			return nil, err
		}
		// Still at k: no rotation ran since it was found there, so f is
		// the file that came right after it.
		if gi, err := os.Stat(rotatedName(c.path, k)); err == nil && os.SameFile(fi, gi) {
			return f, nil
		}
		f.Close()
	}
	return nil, nil
}
