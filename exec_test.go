//go:build linux

package hull

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runningContainer starts a busybox container that writes a marker file
// and sleeps; it is removed when the test ends.
func runningContainer(t *testing.T, rt *Runtime, opts ...RunOption) *Container {
	t.Helper()
	opts = append([]RunOption{WithEnv("FROM_RUN=yes"), WithUser("app"),
		WithCmd("sh", "-c", "echo hello > /home/app/marker; exec sleep 1000")}, opts...)
	c, err := rt.Run(t.Context(), "busybox:test", opts...)
	if c != nil {
		t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
	}
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the marker: the exec tests read it.
	for i := 0; ; i++ {
		res, err := c.Exec(t.Context(), []string{"sh", "-c", "test -f /home/app/marker"})
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode == 0 {
			return c
		}
		if i > 200 {
			t.Fatal("the container never wrote its marker")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func execOut(t *testing.T, c *Container, argv []string, opts ...ExecOption) (int, string) {
	t.Helper()
	var out syncBuffer
	res, err := c.Exec(t.Context(), argv, append([]ExecOption{WithExecStdout(&out), WithExecStderr(&out)}, opts...)...)
	if err != nil {
		t.Fatalf("exec %q: %v", argv, err)
	}
	return res.ExitCode, out.String()
}

func TestExecSeesContainer(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c := runningContainer(t, rt)
	code, out := execOut(t, c, []string{"sh", "-c", "cat /home/app/marker; echo $FROM_RUN $EXTRA; id -u; hostname; pwd; ps -o pid,comm | grep -c sleep; tr '\\0' ' ' < /proc/1/cmdline"},
		WithExecEnv("EXTRA=added"), WithExecWorkdir("/tmp"))
	want := "hello\nyes added\n1000\n" + c.ID()[:12] + "\n/tmp\n1\nsleep 1000"
	if code != 0 || strings.TrimSpace(out) != want {
		t.Errorf("exec: code %d\n%q\nwant\n%q", code, out, want)
	}
	// Same user override as docker exec -u, resolved in the container.
	if code, out := execOut(t, c, []string{"id", "-u"}, WithExecUser("root")); code != 0 || strings.TrimSpace(out) != "0" {
		t.Errorf("exec -u root: %d %q", code, out)
	}
	// The capabilities are the container's: the app user has none.
	if code, out := execOut(t, c, []string{"sh", "-c", "grep CapEff /proc/self/status"}); code != 0 || !strings.Contains(out, "0000000000000000") {
		t.Errorf("caps: %d %q", code, out)
	}
	// And the cgroup: /proc/self/cgroup inside the cgroup namespace is "/".
	if code, out := execOut(t, c, []string{"sh", "-c", "grep -c ':/$' /proc/self/cgroup; grep -vc ':/$' /proc/self/cgroup; true"}); code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "\n0") {
		t.Errorf("exec cgroup: %d %q", code, out)
	}
}

func TestExecExitCodes(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c := runningContainer(t, rt)
	for _, tc := range []struct {
		argv []string
		code int
		text string
	}{
		{[]string{"true"}, 0, ""},
		{[]string{"sh", "-c", "exit 3"}, 3, ""},
		{[]string{"no-such-command"}, 127, "no-such-command"},
		{[]string{"/etc/passwd"}, 126, "permission denied"},
	} {
		code, out := execOut(t, c, tc.argv)
		if code != tc.code || !strings.Contains(out, tc.text) {
			t.Errorf("exec %q: code %d %q, want %d %q", tc.argv, code, out, tc.code, tc.text)
		}
	}
	if _, err := c.Exec(t.Context(), nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no argv: %v", err)
	}
	if _, err := c.Exec(t.Context(), []string{"id"}, WithExecUser("nosuchuser")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("unknown user: %v", err)
	}
	if err := c.Kill(t.Context(), 9); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(t.Context(), []string{"true"}); !errors.Is(err, ErrConflict) {
		t.Errorf("exec in exited container: %v", err)
	}
}

// TestExecFailureTold: the reason a command could not run is on the
// exec's stderr every time, written once the copy of its output into the
// same writer is done (a bytes.Buffer written by both lost it in 18 of
// 20 execs before).
func TestExecFailureTold(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c := runningContainer(t, rt)
	for i := range 10 {
		var stdout, stderr bytes.Buffer
		res, err := c.Exec(t.Context(), []string{"/no/such/cmd"}, WithExecStdout(&stdout), WithExecStderr(&stderr))
		if err != nil || res.ExitCode != 127 || !strings.Contains(stderr.String(), "/no/such/cmd") {
			t.Fatalf("exec %d: %+v, %v, stderr %q; want 127 and the reason", i, res, err, stderr.String())
		}
	}
}

func TestExecStdin(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c := runningContainer(t, rt)
	code, out := execOut(t, c, []string{"sh", "-c", "cat; echo done >&2"}, WithExecStdin(strings.NewReader("piped\nin\n")))
	// stdout and stderr are copied concurrently: their order in one
	// buffer is not defined.
	if code != 0 || (out != "piped\nin\ndone\n" && out != "done\npiped\nin\n") {
		t.Errorf("stdin: %d %q", code, out)
	}
}

func TestExecTTY(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c := runningContainer(t, rt)
	code, out := execOut(t, c, []string{"sh", "-c", "tty; stty size; test -t 0 && echo stdin-tty"}, WithExecTTY(33, 101))
	if code != 0 || !regexp.MustCompile(`^/dev/pts/\d+\r\n33 101\r\nstdin-tty\r\n$`).MatchString(out) {
		t.Errorf("tty: %d %q", code, out)
	}
	resize := make(chan [2]uint16, 1)
	resize <- [2]uint16{50, 120}
	code, out = execOut(t, c, []string{"sh", "-c", "sleep 0.2; stty size"}, WithExecTTY(10, 10), WithExecResize(resize))
	if code != 0 || strings.TrimSpace(out) != "50 120" {
		t.Errorf("resize: %d %q", code, out)
	}
}
