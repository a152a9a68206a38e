//go:build linux

package hull

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// waitFor waits until buf holds want, failing the test after 20 s.
func waitFor(t *testing.T, buf *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %q", want, buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// echoLoop answers each input line on both streams and says bye at EOF.
const echoLoop = `while read l; do echo "got $l"; echo "err $l" >&2; done; echo bye`

// attachEcho attaches to c from its own goroutine with a pipe as input.
func attachEcho(ctx context.Context, c *Container) (in *io.PipeWriter, out, errs *syncBuffer, done chan error) {
	pr, pw := io.Pipe()
	out, errs, done = &syncBuffer{}, &syncBuffer{}, make(chan error, 1)
	go func() {
		done <- c.Attach(ctx, WithAttachStdin(pr), WithAttachStdout(out), WithAttachStderr(errs))
	}()
	return pw, out, errs, done
}

// TestContainerAttach attaches to an owned and to a Detached container,
// from another Runtime on the same root: input reaches the command,
// output comes back on the right streams, a detach (ctx end) leaves the
// container running, the end of input closes its stdin.
func TestContainerAttach(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	rt2, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	for _, tc := range []struct {
		name string
		opts []RunOption
	}{
		{"owned", nil},
		{"detached", []RunOption{WithDetached()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := rt.Run(t.Context(), "busybox:test", append(tc.opts, WithOpenStdin(), WithCmd("sh", "-c", echoLoop))...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Remove(context.Background(), WithForce())
			other, err := rt2.Container(t.Context(), c.ID())
			if err != nil {
				t.Fatal(err)
			}
			// First client: detaches after one line.
			ctx, cancel := context.WithCancel(t.Context())
			in, out, errs, done := attachEcho(ctx, other)
			io.WriteString(in, "one\n")
			waitFor(t, out, "got one\n")
			waitFor(t, errs, "err one\n")
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("detach: %v", err)
			}
			if st := inspect(t, other).State; !st.Running {
				t.Fatalf("detach stopped the container: %+v", st)
			}
			// Second client: its end of input ends the command.
			in, out, errs, done = attachEcho(t.Context(), other)
			io.WriteString(in, "two\n")
			waitFor(t, out, "got two\n")
			in.Close()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("attach did not end when the container exited")
			}
			if out.String() != "got two\nbye\n" || errs.String() != "err two\n" {
				t.Errorf("second attach: %q %q", out.String(), errs.String())
			}
			if st, err := c.Wait(t.Context()); err != nil || st.ExitCode != 0 {
				t.Errorf("wait: %+v %v", st, err)
			}
			// Everything is in the log too.
			var logs syncBuffer
			if err := c.Logs(t.Context(), WithLogsStdout(&logs)); err != nil || logs.String() != "got one\ngot two\nbye\n" {
				t.Errorf("logs: %q %v", logs.String(), err)
			}
			if err := other.Attach(t.Context()); !errors.Is(err, ErrConflict) {
				t.Errorf("attach to an exited container: %v", err)
			}
		})
	}
}

// TestContainerAttachTTY: a detached container with a terminal (run -dit)
// is attached later; input, resize and exit go through the init's
// terminal.
func TestContainerAttachTTY(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c, err := rt.Run(t.Context(), "busybox:test", WithDetached(), WithTTY(), WithOpenStdin(), WithCmd("sh"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(context.Background(), WithForce())
	pr, pw := io.Pipe()
	resize := make(chan [2]uint16, 1)
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- c.Attach(t.Context(), WithAttachStdin(pr), WithAttachStdout(&out), WithAttachResize(resize))
	}()
	resize <- [2]uint16{30, 100}
	io.WriteString(pw, "tty\n")
	waitFor(t, &out, "/dev/pts/")
	// The resize frame and the input travel on separate goroutines: ask
	// until the new size shows.
	for i := 0; !strings.Contains(out.String(), "30 100") && i < 100; i++ {
		io.WriteString(pw, "stty size\n")
		time.Sleep(50 * time.Millisecond)
	}
	waitFor(t, &out, "30 100")
	io.WriteString(pw, "exit 3\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st, err := c.Wait(t.Context()); err != nil || st.ExitCode != 3 {
		t.Errorf("wait: %+v %v", st, err)
	}
}

func TestContainerAttachErrors(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(context.Background(), WithForce())
	if err := c.Attach(t.Context(), WithAttachStdin(strings.NewReader("x"))); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("stdin to a container without open stdin: %v", err)
	}
	c.Kill(t.Context(), 9)
	c.Wait(t.Context())
	if err := c.Attach(t.Context()); !errors.Is(err, ErrConflict) {
		t.Errorf("attach to an exited container: %v", err)
	}
}

// TestContainerRestartKeepsTerminal: a Detached container with a
// terminal and open stdin keeps both when started again.
func TestContainerRestartKeepsTerminal(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c, err := rt.Run(t.Context(), "busybox:test", WithDetached(), WithTTY(), WithOpenStdin(), WithCmd("sh"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(context.Background(), WithForce())
	for i, code := range []int{3, 4} {
		if i > 0 {
			if err := c.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		var out syncBuffer
		err := c.Attach(t.Context(), WithAttachStdin(strings.NewReader("tty\nexit "+strconv.Itoa(code)+"\n")), WithAttachStdout(&out))
		if err != nil {
			t.Fatal(err)
		}
		if st, err := c.Wait(t.Context()); err != nil || st.ExitCode != code || !strings.Contains(out.String(), "/dev/pts/") {
			t.Errorf("run %d: %+v %v %q", i, st, err, out.String())
		}
	}
}

// TestContainerAttachReady: WithAttachReady's fn runs once the attach is
// in place, so that output the container writes after it reaches the
// writer: a line PID 1's stdout gets once, right after, is not lost.
func TestContainerAttachReady(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(context.Background(), WithForce())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, ready, done := &syncBuffer{}, make(chan struct{}), make(chan error, 1)
	go func() { done <- c.Attach(ctx, WithAttachStdout(out), WithAttachReady(func() { close(ready) })) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Attach returned before ready: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("ready not called")
	}
	if _, err := c.Exec(t.Context(), []string{"sh", "-c", "echo after-ready >/proc/1/fd/1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "after-ready\n")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("detach: %v", err)
	}
}
