package hull

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sigIgnModes starts a container (or an exec) each way there is, each
// printing the SigIgn line of its command's /proc status, and returns
// "mode SigIgn-mask" lines. The program's own ignores (the helper role
// sigign sets some) must not reach any of them: runc resets every
// disposition to SIG_DFL, and so does hull.
func sigIgnModes(ctx context.Context, rt *Runtime) (string, error) {
	grep := WithCmd("grep", "SigIgn", "/proc/self/status")
	none := WithNetworkMode(NetworkModeNone)
	var out strings.Builder
	record := func(mode string, got []byte) {
		f := strings.Fields(string(got))
		if len(f) == 2 && f[0] == "SigIgn:" {
			fmt.Fprintf(&out, "%s %s\n", mode, f[1])
		} else {
			fmt.Fprintf(&out, "%s output:%q\n", mode, got)
		}
	}
	attached := func(mode string, create bool, opts ...RunOption) error {
		buf := new(syncBuffer)
		opts = append([]RunOption{grep, none, WithStdout(buf)}, opts...)
		var c *Container
		var err error
		if create {
			if c, err = rt.Create(ctx, "busybox:test", opts...); err == nil {
				err = c.Start(ctx)
			}
		} else {
			c, err = rt.Run(ctx, "busybox:test", opts...)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		defer c.Remove(context.WithoutCancel(ctx), WithForce())
		if _, err := c.Wait(ctx); err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		got := buf.String()
		if strings.HasPrefix(mode, "detached") {
			var logs bytes.Buffer
			if err := c.Logs(ctx, WithLogsStdout(&logs)); err != nil {
				return fmt.Errorf("%s: %w", mode, err)
			}
			got = logs.String()
		}
		record(mode, []byte(got))
		return nil
	}
	for _, m := range []struct {
		mode   string
		create bool
		opts   []RunOption
	}{
		{"run", false, nil},
		{"run-tty", false, []RunOption{WithTTY()}},
		{"run-init", false, []RunOption{WithInit()}},
		{"create-start", true, nil},
		{"detached", false, []RunOption{WithDetached()}},
		{"detached-tty", false, []RunOption{WithDetached(), WithTTY()}},
		{"detached-init", false, []RunOption{WithDetached(), WithInit()}},
	} {
		if err := attached(m.mode, m.create, m.opts...); err != nil {
			return out.String(), err
		}
	}
	for _, detached := range []bool{false, true} {
		opts := []RunOption{none, WithCmd("sleep", "100")}
		mode := "exec"
		if detached {
			opts, mode = append(opts, WithDetached()), "exec-detached"
		}
		c, err := rt.Run(ctx, "busybox:test", opts...)
		if err != nil {
			return out.String(), fmt.Errorf("%s: %w", mode, err)
		}
		var buf bytes.Buffer
		_, err = c.Exec(ctx, []string{"grep", "SigIgn", "/proc/self/status"}, WithExecStdout(&buf))
		c.Remove(context.WithoutCancel(ctx), WithForce())
		if err != nil {
			return out.String(), fmt.Errorf("%s: %w", mode, err)
		}
		record(mode, buf.Bytes())
	}
	return out.String(), nil
}

// sigign runs a container each way there is from a program that ignores
// signals, and prints their ignored signals (helperRoles, main_test.go).
func init() { helperRoles["sigign"] = sigIgnHelper }

// sigIgnHelper is the helper role sigign: sigIgnModes from a program that
// ignores the signals nohup and a shell's background jobs ignore, and
// more.
func sigIgnHelper(ctx context.Context, rt *Runtime) error {
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGPIPE, syscall.SIGUSR1)
	out, err := sigIgnModes(ctx, rt)
	fmt.Print(out)
	return err
}

// Every way of starting a container's process gives it every signal's
// default disposition (SigIgn 0), as runc does, whatever this program or
// a Detached container's shim ignores.
func TestSignalDispositionsDefault(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	check := func(who, out string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", who, err)
		}
		n := 0
		for sc := bufio.NewScanner(strings.NewReader(out)); sc.Scan(); n++ {
			if mode, mask, _ := strings.Cut(sc.Text(), " "); mask != "0000000000000000" {
				t.Errorf("%s: %s: SigIgn %s, want 0", who, mode, mask)
			}
		}
		if n != 9 {
			t.Errorf("%s: %d modes, want 9:\n%s", who, n, out)
		}
	}
	out, err := sigIgnModes(t.Context(), rt)
	check("this process", out, err)
	cmd := helperCmd(rt.Root(), "sigign")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	err = cmd.Run()
	check("a program that ignores signals", stdout.String(), err)
}

// A Detached container whose STOPSIGNAL is SIGINT stops on Stop at once:
// its shell's trap works (a shell cannot trap a signal ignored on entry).
func TestDetachedStopSignalInt(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	for _, tty := range []bool{false, true} {
		opts := []RunOption{WithDetached(), WithNetworkMode(NetworkModeNone), WithStopSignal(syscall.SIGINT),
			WithCmd("sh", "-c", "trap 'exit 3' INT; echo ready; while true; do sleep 0.1; done")}
		if tty {
			opts = append(opts, WithTTY())
		}
		c, err := rt.Run(ctx, "busybox:test", opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Remove(context.WithoutCancel(ctx), WithForce())
		// The trap is set once ready is logged.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var buf bytes.Buffer
			if err := c.Logs(ctx, WithLogsStdout(&buf)); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(buf.String(), "ready") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("tty %v: not ready: %q", tty, buf.String())
			}
		}
		start := time.Now()
		if err := c.Stop(ctx, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		st, err := c.Wait(ctx)
		if d := time.Since(start); err != nil || st.ExitCode != 3 || d > 5*time.Second {
			t.Errorf("tty %v: stopped by SIGINT after %v: %+v, %v; want exit 3 at once", tty, d, st, err)
		}
		if err := c.Remove(ctx); err != nil && !errors.Is(err, ErrNotFound) {
			t.Error(err)
		}
	}
}
