package hull

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExecStdioPipes is finding 4 of issue 13: Exec given host files as
// stdin and stdout hands the command pipes, so that nothing in the
// container reaches the files through /proc/<pid>/fd (docker exec
// > file does the same).
func TestExecStdioPipes(t *testing.T) {
	rt := containerTest(t)
	c := sleeper(t, rt)
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.WriteFile(in, []byte("input\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(dir, "out")
	if err := os.WriteFile(outPath, []byte("host secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inF, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer inF.Close()
	outF, err := os.OpenFile(outPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer outF.Close()
	var errb bytes.Buffer
	res, err := c.Exec(t.Context(), []string{"sh", "-c", "for f in 0 1; do readlink /proc/self/fd/$f >&2; done; cat"},
		WithExecStdin(inF), WithExecStdout(outF), WithExecStderr(&errb))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exec: %v %+v: %s", err, res, errb.String())
	}
	for _, l := range strings.Fields(errb.String()) {
		if !strings.HasPrefix(l, "pipe:") {
			t.Errorf("the command's stdio is %q, not a pipe", l)
		}
	}
	got, _ := os.ReadFile(outPath)
	if string(got) != "host secret\ninput\n" {
		t.Errorf("out file holds %q, want the earlier content and the command's output appended", got)
	}
}

// TestExecContextEnds: an Exec whose context ends while the command runs
// returns the context's error at once (it used to block for ever
// receiving the helper's exit twice).
func TestExecContextEnds(t *testing.T) {
	rt := containerTest(t)
	c := sleeper(t, rt)
	for range 4 { // the select picks at random between two ready cases
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		done := make(chan error, 1)
		go func() {
			_, err := c.Exec(ctx, []string{"sleep", "60"})
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Exec: %v, want the deadline", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Exec still blocked 20 s after its context ended")
		}
		cancel()
	}
}

// TestSignalExitCodes: a command killed by a signal reports 128+n, as
// Docker does, from Exec (with no Go traceback in its stderr) and to the
// owner of a Detached container, who also gets the signal.
func TestSignalExitCodes(t *testing.T) {
	rt := containerTest(t)
	c := sleeper(t, rt)
	if err := c.Kill(t.Context(), 9); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Wait(t.Context()); err != nil || st.ExitCode != 137 || st.Signal != 9 {
		t.Errorf("Detached PID 1 killed by SIGKILL, to its owner: %+v %v, want 137 and signal 9", st, err)
	}
	d := sleeper(t, rt)
	for sig, want := range map[string]int{"SEGV": 139, "TERM": 143, "ABRT": 134} {
		var errb bytes.Buffer
		res, err := d.Exec(t.Context(), []string{"sh", "-c", "kill -" + sig + " $$"}, WithExecStderr(&errb))
		if err != nil || res.ExitCode != want || errb.Len() != 0 {
			t.Errorf("exec killed by SIG%s: %+v %v, stderr %q; want %d and nothing", sig, res, err, errb.String(), want)
		}
	}
}

// sleeper runs a Detached busybox that sleeps, removed when the test ends.
func sleeper(t *testing.T, rt *Runtime) *Container {
	t.Helper()
	c, err := rt.Run(t.Context(), "busybox:test", WithDetached(), WithCmd("sleep", "600"))
	if c != nil {
		t.Cleanup(func() { c.Remove(context.Background(), WithForce()) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestExecSameWriter: one writer given as both stdout and stderr gets
// all of both, in the order written: one pipe serves both, as with
// os/exec (two copies into one bytes.Buffer would race and lose output).
func TestExecSameWriter(t *testing.T) {
	rt := containerTest(t)
	c := sleeper(t, rt)
	for range 20 {
		var out bytes.Buffer
		res, err := c.Exec(t.Context(), []string{"sh", "-c", "echo out; echo err >&2; echo out2"},
			WithExecStdout(&out), WithExecStderr(&out))
		if err != nil || res.ExitCode != 0 || out.String() != "out\nerr\nout2\n" {
			t.Fatalf("exec: %v %+v, output %q", err, res, out.String())
		}
	}
}

// TestOwnSession: the process of an Exec and a container's own process
// lead a session of their own with no controlling terminal, as runc
// gives them: a terminal this program has (a test run from a shell, an
// embedder's CLI) is never theirs to read or to push input into
// (TIOCSTI).
func TestOwnSession(t *testing.T) {
	rt := containerTest(t)
	// The shell's own stat (a redirection of the shell itself): its pid,
	// its session and its controlling terminal's number.
	const probe = "read pid comm state ppid pgrp sid tty rest < /proc/self/stat; echo $pid $sid $tty"
	check := func(what, out string) {
		t.Helper()
		f := strings.Fields(out)
		if len(f) != 3 || f[0] != f[1] || f[2] != "0" {
			t.Errorf("%s: pid, session, tty: %q: want its own session and no terminal", what, out)
		}
	}
	var out syncBuffer
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sh", "-c", probe+"; sleep 60"), WithStdout(&out))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(context.Background(), WithForce())
	var execOut bytes.Buffer
	if res, err := c.Exec(t.Context(), []string{"sh", "-c", probe}, WithExecStdout(&execOut)); err != nil || res.ExitCode != 0 {
		t.Fatalf("exec: %+v %v", res, err)
	}
	check("exec", execOut.String())
	for i := 0; i < 100 && !strings.Contains(out.String(), "\n"); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	check("run", out.String())
}
