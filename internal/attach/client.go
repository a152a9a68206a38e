package attach

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrNoServer is Dial's error when no one serves the socket (the process
// holding the container's stdio is gone, or never served it).
var ErrNoServer = errors.New("no one serves the container's stdio")

// Dial connects to the attach socket in dir.
func Dial(dir string) (net.Conn, error) {
	fd, err := unix.Open(dir, oPath|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(fd), "container-dir")
	defer d.Close()
	conn, err := net.Dial("unix", procPath(d, SocketName))
	if errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ENOENT) {
		return nil, ErrNoServer
	}
	return conn, err
}

// Options are what a client attaches.
type Options struct {
	// Stdin is sent to the container; when it ends, the container's stdin
	// is closed if CloseStdin. Nil: no input.
	Stdin      io.Reader
	CloseStdin bool
	// Stdout and Stderr receive the output; nil drops the stream.
	Stdout, Stderr io.Writer
	// Resize sends terminal sizes {rows, cols}.
	Resize <-chan [2]uint16
	// Ready is called once the server has registered the client: output
	// produced from then on reaches it.
	Ready func()
}

// Run attaches over conn, which it closes. It returns nil when the server
// ends the stream (the container's output ended) and ctx's error when ctx
// ends first (a detach: the container keeps running).
func Run(ctx context.Context, conn net.Conn, o Options) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var wmu sync.Mutex
	send := func(typ byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return writeFrame(conn, typ, p)
	}
	if err := send(FrameHello, helloFrame(Hello{Stdout: o.Stdout != nil, Stderr: o.Stderr != nil})); err != nil {
		return ctxOr(ctx, fmt.Errorf("attach: %w", err))
	}
	done := make(chan struct{})
	defer close(done)
	r := bufio.NewReaderSize(conn, 64<<10)
	typ, _, err := readFrame(r)
	if err != nil || typ != FrameHello {
		if err == nil {
			err = errors.New("bad reply")
		}
		return ctxOr(ctx, fmt.Errorf("attach: %w", err))
	}
	if o.Ready != nil {
		o.Ready()
	}
	if o.Stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := o.Stdin.Read(buf)
				if n > 0 && send(FrameStdin, buf[:n]) != nil {
					return
				}
				if err != nil {
					if errors.Is(err, io.EOF) && o.CloseStdin {
						_ = send(FrameStdinClose, nil)
					}
					return
				}
			}
		}()
	}
	if o.Resize != nil {
		go func() {
			for {
				select {
				case sz, ok := <-o.Resize:
					if !ok || send(FrameResize, resizeFrame(sz[0], sz[1])) != nil {
						return
					}
				case <-done:
					return
				}
			}
		}()
	}
	for {
		typ, p, err := readFrame(r)
		// ECONNRESET is an end too: the server closed the session (the
		// container ended) with our stdin or resize frames still unread,
		// and a unix socket reports that as a reset once every frame it
		// had sent us has been read.
		if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
			return ctxOr(ctx, nil)
		}
		if err != nil {
			return ctxOr(ctx, fmt.Errorf("attach: %w", err))
		}
		var w io.Writer
		switch typ {
		case FrameStdout:
			w = o.Stdout
		case FrameStderr:
			w = o.Stderr
		}
		if w != nil {
			if _, err := w.Write(p); err != nil {
				return fmt.Errorf("attach: %w", err)
			}
		}
	}
}

// ctxOr returns ctx's error if it ended (the connection was closed for
// it), else err.
func ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
