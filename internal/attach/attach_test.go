package attach

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

type buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// stdinRecorder is a server's stdin that records input and its close.
type stdinRecorder struct {
	buffer
	closed chan struct{}
}

func (s *stdinRecorder) Close() error { close(s.closed); return nil }

// TestServerClient: over a socket whose path is longer than a unix
// socket address allows, output reaches the client from its ready on,
// input and its end reach the server, Close ends the client with nil and
// a cancelled client returns its context's error.
func TestServerClient(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 100), strings.Repeat("e", 60))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := &stdinRecorder{closed: make(chan struct{})}
	s.SetStdin(in)
	out, errOut := s.Writer(FrameStdout), s.Writer(FrameStderr)
	out.Write([]byte("before\n")) // no client yet: dropped

	conn, err := Dial(dir)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr buffer
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), conn, Options{
			Stdin: strings.NewReader("typed"), CloseStdin: true, Stdout: &stdout, Stderr: &stderr,
			Ready: func() { close(ready) },
		})
	}()
	<-ready
	out.Write([]byte("out\n"))
	errOut.Write([]byte("err\n"))
	<-in.closed
	if in.String() != "typed" {
		t.Errorf("server got input %q", in.String())
	}

	conn2, err := Dial(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- Run(ctx, conn2, Options{Stdout: io.Discard, Ready: cancel}) }()
	if err := <-done2; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled client: %v", err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("client got %q %q", stdout.String(), stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, SocketName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
	if _, err := Dial(dir); !errors.Is(err, ErrNoServer) {
		t.Errorf("dial after Close: %v", err)
	}
}

// BenchmarkListenClose is what serving attach adds to a container's
// start and end.
func BenchmarkListenClose(b *testing.B) {
	dir := b.TempDir()
	for b.Loop() {
		s, err := Listen(dir)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
