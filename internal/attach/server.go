package attach

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// clientBuffer is how many output frames a client may fall behind before
// it is disconnected: a slow client never blocks the container.
const clientBuffer = 1024

// Server serves the attach socket of one container: it copies the output
// written to its Writers to every client, and client input to the
// container's stdin or terminal.
type Server struct {
	dir *os.File // O_PATH: where the socket is
	ln  *net.UnixListener

	mu      sync.Mutex
	clients map[*client]struct{}
	closed  bool
	resize  func(rows, cols uint16)
	writers sync.WaitGroup

	stdinMu sync.Mutex
	stdin   io.WriteCloser
}

type client struct {
	conn  net.Conn
	hello Hello
	out   chan frame
}

type frame struct {
	typ byte
	p   []byte
}

// procPath names name in the directory open as f, however long the
// directory's path: a unix socket path must fit in 108 bytes.
func procPath(f *os.File, name string) string {
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) + "/" + name
}

// Listen binds SocketName in dir (replacing a stale one) and serves it
// until Close.
func Listen(dir string) (*Server, error) {
	fd, err := unix.Open(dir, oPath|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	defer unix.Close(fd) // ListenFD keeps a copy
	return ListenFD(fd)
}

// ListenFD is Listen in the directory open as dirfd (O_PATH is enough),
// which it duplicates.
func ListenFD(dirfd int) (*Server, error) {
	nfd, err := unix.FcntlInt(uintptr(dirfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	s := &Server{dir: os.NewFile(uintptr(nfd), "container-dir"), clients: map[*client]struct{}{}}
	_ = unix.Unlinkat(nfd, SocketName, 0)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: procPath(s.dir, SocketName), Net: "unix"})
	if err != nil {
		s.dir.Close()
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	// The path names an fd: unlinking it at Close through that name
	// would be wrong once the fd is gone. Close unlinks by dir fd.
	ln.SetUnlinkOnClose(false)
	s.ln = ln
	go s.accept()
	return s, nil
}

// SetStdin makes w receive clients' input; a client's StdinClose closes
// it. Nil: input is dropped.
func (s *Server) SetStdin(w io.WriteCloser) {
	s.stdinMu.Lock()
	s.stdin = w
	s.stdinMu.Unlock()
}

// SetResize makes fn receive clients' terminal sizes.
func (s *Server) SetResize(fn func(rows, cols uint16)) {
	s.mu.Lock()
	s.resize = fn
	s.mu.Unlock()
}

// SetTerminal makes clients' terminal sizes resize the terminal whose
// master is master and, with input, their input its input. A client that
// ends its input leaves the terminal open: the others may still type.
func (s *Server) SetTerminal(master *os.File, input bool) {
	if input {
		s.SetStdin(nopCloser{master})
	}
	s.SetResize(func(rows, cols uint16) { ResizeTerminal(master, rows, cols) })
}

// nopCloser keeps a terminal open when a client closes its input.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// ResizeTerminal sets the size of the terminal whose master is f.
func ResizeTerminal(f *os.File, rows, cols uint16) {
	// SyscallConn, not Fd: Fd would make it blocking, and races Close.
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
		})
	}
}

// Writer returns a writer whose bytes go to the clients as stream typ
// (FrameStdout or FrameStderr). It never fails nor blocks for long.
func (s *Server) Writer(typ byte) io.Writer { return streamWriter{s, typ} }

type streamWriter struct {
	s   *Server
	typ byte
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.s.broadcast(w.typ, p)
	return len(p), nil
}

func (s *Server) broadcast(typ byte, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		if typ == FrameStdout && !c.hello.Stdout || typ == FrameStderr && !c.hello.Stderr {
			continue
		}
		select {
		case c.out <- frame{typ, append([]byte(nil), p...)}:
		default:
			s.dropLocked(c) // too slow
		}
	}
}

func (s *Server) dropLocked(c *client) {
	if _, ok := s.clients[c]; ok {
		delete(s.clients, c)
		close(c.out)
	}
}

func (s *Server) accept() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.serve(conn)
	}
}

// serve reads one client's hello, then its input, until it goes.
func (s *Server) serve(conn net.Conn) {
	r := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, p, err := readFrame(r)
	var h Hello
	if err != nil || typ != FrameHello || json.Unmarshal(p, &h) != nil {
		conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	c := &client{conn: conn, hello: h, out: make(chan frame, clientBuffer)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.clients[c] = struct{}{}
	c.out <- frame{FrameHello, nil} // the ack: output from here on
	s.writers.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.writers.Done()
		defer conn.Close()
		failed := false
		for f := range c.out {
			if !failed && writeFrame(conn, f.typ, f.p) != nil {
				failed = true
			}
		}
	}()
	defer func() {
		s.mu.Lock()
		s.dropLocked(c)
		s.mu.Unlock()
	}()
	for {
		typ, p, err := readFrame(r)
		if err != nil {
			return
		}
		switch typ {
		case FrameStdin:
			s.stdinMu.Lock()
			if s.stdin != nil {
				if _, err := s.stdin.Write(p); err != nil {
					s.stdin = nil
				}
			}
			s.stdinMu.Unlock()
		case FrameStdinClose:
			s.stdinMu.Lock()
			if s.stdin != nil {
				s.stdin.Close()
				s.stdin = nil
			}
			s.stdinMu.Unlock()
		case FrameResize:
			if len(p) == 4 {
				s.mu.Lock()
				fn := s.resize
				s.mu.Unlock()
				if fn != nil {
					fn(binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:]))
				}
			}
		}
	}
}

// Close stops accepting, sends the clients what output they have not
// received yet (waiting up to a second), closes their connections and
// removes the socket. Call it once the container's output has ended.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.clients {
		s.dropLocked(c)
	}
	s.mu.Unlock()
	err := s.ln.Close()
	done := make(chan struct{})
	go func() { s.writers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	if uerr := unix.Unlinkat(int(s.dir.Fd()), SocketName, 0); uerr != nil && !errors.Is(uerr, unix.ENOENT) {
		err = errors.Join(err, uerr)
	}
	return errors.Join(err, s.dir.Close())
}
