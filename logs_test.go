//go:build linux

package hull

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestContainerStdinAndTTY(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	st, out, err := run(t, rt, WithStdin(strings.NewReader("from\nstdin\n")), WithCmd("sh", "-c", "cat; echo err >&2"))
	// stdout and stderr are separate pipes copied concurrently: their
	// relative order in one buffer is not defined.
	if err != nil || st.ExitCode != 0 || (out != "from\nstdin\nerr\n" && out != "err\nfrom\nstdin\n") {
		t.Errorf("stdin: %+v %v %q", st, err, out)
	}
	st, out, err = run(t, rt, WithTTY(), WithCmd("sh", "-c", "tty; test -t 0 && echo tty-in; echo $TERM; echo err >&2"))
	if err != nil || st.ExitCode != 0 || !regexp.MustCompile(`^/dev/pts/\d+\r\ntty-in\r\nxterm\r\nerr\r\n$`).MatchString(out) {
		t.Errorf("tty: %+v %v %q", st, err, out)
	}
}

func TestContainerLogs(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	root := rt.Root()
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sh", "-c", "for i in 1 2 3; do echo out$i; echo err$i >&2; done"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(context.Background(), WithForce())
	if _, err := c.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	logs := func(c *Container, opts ...LogsOption) (string, string) {
		t.Helper()
		var out, errs strings.Builder
		opts = append(opts, WithLogsStdout(&out), WithLogsStderr(&errs))
		if err := c.Logs(t.Context(), opts...); err != nil {
			t.Fatal(err)
		}
		return out.String(), errs.String()
	}
	if out, errs := logs(c); out != "out1\nout2\nout3\n" || errs != "err1\nerr2\nerr3\n" {
		t.Errorf("logs: %q %q", out, errs)
	}
	// Tail counts lines of both streams, in the order they were logged.
	if out, errs := logs(c, WithLogsTail(2)); strings.Count(out+errs, "\n") != 2 || !strings.HasSuffix(out, "out3\n") && !strings.HasSuffix(errs, "err3\n") {
		t.Errorf("tail 2: %q %q", out, errs)
	}
	// Tail 0 shows nothing logged so far, as docker logs --tail 0.
	if out, errs := logs(c, WithLogsTail(0)); out != "" || errs != "" {
		t.Errorf("tail 0: %q %q", out, errs)
	}
	if out, errs := logs(c, WithLogsSince(time.Now().Add(time.Hour))); out != "" || errs != "" {
		t.Errorf("since later: %q %q", out, errs)
	}
	if out, _ := logs(c, WithLogsFollow(), WithLogsSince(time.Now().Add(-time.Hour))); out != "out1\nout2\nout3\n" {
		t.Errorf("follow of an exited container: %q", out)
	}
	// A second Runtime on the same root, while the first is open and after
	// it closed.
	rt2, err := Open(t.Context(), WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	c2, err := rt2.Container(t.Context(), c.ID())
	if err != nil {
		t.Fatal(err)
	}
	if out, errs := logs(c2); out != "out1\nout2\nout3\n" || errs != "err1\nerr2\nerr3\n" {
		t.Errorf("second runtime: %q %q", out, errs)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rt2.Container(t.Context(), c.ID()); err == nil {
		t.Log("closing the owner removed the container; logs go with it") // Close removes owned containers
	}
}

func TestContainerLogsFollow(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sh", "-c", "echo first; sleep 0.3; echo second; echo bye >&2"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(context.Background(), WithForce())
	rt2, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	other, err := rt2.Container(t.Context(), c.ID())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    *Container
	}{{"owner", c}, {"other runtime", other}} {
		var out, errs syncBuffer
		done := make(chan error, 1)
		go func() { done <- tc.c.Logs(t.Context(), WithLogsFollow(), WithLogsStdout(&out), WithLogsStderr(&errs)) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: follow did not end when the container exited", tc.name)
		}
		if out.String() != "first\nsecond\n" || errs.String() != "bye\n" {
			t.Errorf("%s: follow: %q %q", tc.name, out.String(), errs.String())
		}
	}
}

// TestContainerLogsOutliveOwner: the process that ran a container dies
// (SIGKILL, no Close); another process still reads its logs.
func TestContainerLogsOutliveOwner(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	cmd := helperCmd(rt.Root(), "logs")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var id string
	_, err = fmt.Fscan(stdout, &id)
	cmd.Process.Kill()
	cmd.Wait()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	rt2, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	c, err := rt2.Container(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(context.Background(), WithForce())
	var out, errs strings.Builder
	if err := c.Logs(t.Context(), WithLogsFollow(), WithLogsStdout(&out), WithLogsStderr(&errs)); err != nil {
		t.Fatal(err)
	}
	if out.String() != "to-out\n" || errs.String() != "to-err\n" {
		t.Errorf("logs after the owner died: %q %q", out.String(), errs.String())
	}
}

// TestLogsLiveDelay is item 4 of issue 16: a line the container has
// written is in Logs within a bounded delay while it runs (Logs' doc
// says which), for a container this process keeps the log of and for a
// Detached one whose shim does, with and without a terminal. The line
// is written by an exec into PID 1's stdout: once Exec returns, the
// write is done.
func TestLogsLiveDelay(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	for _, tc := range []struct {
		name string
		opts []RunOption
	}{
		{"attached", nil},
		{"detached", []RunOption{WithDetached()}},
		{"detached-tty", []RunOption{WithDetached(), WithTTY()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := rt.Run(t.Context(), "busybox:test", append([]RunOption{WithNetworkMode(NetworkModeNone), WithCmd("sleep", "600")}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Remove(context.Background(), WithForce())
			for i := range 5 {
				line := fmt.Sprintf("line %d", i)
				if res, err := c.Exec(t.Context(), []string{"sh", "-c", "echo '" + line + "' > /proc/1/fd/1"}); err != nil || res.ExitCode != 0 {
					t.Fatalf("exec: %+v %v", res, err)
				}
				deadline := time.Now().Add(logsLiveBound)
				for {
					var out syncBuffer
					if err := c.Logs(t.Context(), WithLogsStdout(&out)); err != nil {
						t.Fatal(err)
					}
					if strings.Contains(out.String(), line) {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%q written, not in the log after %v: %q", line, logsLiveBound, out.String())
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
}

// logsLiveBound is the delay Logs' doc promises, with room for a loaded
// test machine.
const logsLiveBound = time.Second
