package stdio

import (
	"io"
	"os"
	"sync"

	"github.com/hullbox/hull/internal/attach"
)

// CopyTerminal copies between a terminal's master and an exec'd
// process's streams (stdin into it; its output into stdout, nil:
// discarded), and resizes it to each {rows, cols} received on resize
// (nil: never) until the output is drained. copied is done when the output
// is drained (the master reads EIO once the process and its children
// closed the slave).
func CopyTerminal(master *os.File, stdin io.Reader, stdout io.Writer, resize <-chan [2]uint16, copied *sync.WaitGroup) {
	if stdin != nil {
		go func() { _, _ = io.Copy(master, stdin) }()
	}
	out := stdout
	if out == nil {
		out = io.Discard
	}
	copied.Add(1)
	go func() {
		defer copied.Done()
		_, _ = io.Copy(out, master)
	}()
	if resize != nil {
		done := make(chan struct{})
		go func() {
			copied.Wait()
			close(done)
		}()
		go func() {
			for {
				select {
				case sz, ok := <-resize:
					if !ok {
						return
					}
					attach.ResizeTerminal(master, sz[0], sz[1])
				case <-done:
					return
				}
			}
		}()
	}
}

// NotAFile hides an *os.File behind a plain io.Writer, so that exec.Cmd
// gives the child a pipe and copies, instead of the file's descriptor
// (nil stays nil).
func NotAFile(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	return struct{ io.Writer }{w}
}

// InPipe feeds a child's stdin from a reader: the child gets R; a
// goroutine copies the reader into the pipe until it ends (then the child
// reads EOF) or Close. Unlike exec.Cmd's own copy, Wait never waits for
// it: the reader (a terminal, say) may never end, and docker exec -i
// returns when the process exits all the same. The goroutine ends at the
// reader's next read.
type InPipe struct {
	R    *os.File // the child's end: close it once the child started
	w    *os.File
	once sync.Once
}

// NewInPipe starts copying src into a new pipe.
func NewInPipe(src io.Reader) (*InPipe, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p := &InPipe{R: r, w: w}
	go func() {
		_, _ = io.Copy(w, src)
		p.Close()
	}()
	return p, nil
}

// Close closes our end: the child reads EOF.
func (p *InPipe) Close() error {
	p.once.Do(func() { p.w.Close() })
	return nil
}
