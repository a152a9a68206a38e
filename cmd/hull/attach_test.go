package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestAttach: run -di / -dit, then attach from another hull process:
// input reaches the command, output and exit code come back.
func TestAttach(t *testing.T) {
	root := busyboxRoot(t)
	t.Parallel()
	mustHull(t, root, nil, "run", "-d", "-i", "--name", "pipe", "busybox:test", "sh", "-c", `while read l; do echo "got $l"; done; exit 4`)
	defer hullCmd(t, root, nil, "rm", "-f", "pipe")
	// hull's stdin ends after the line: that closes the container's stdin.
	if r := hullCmd(t, root, []byte("x\n"), "attach", "pipe"); r.code != 4 || r.stdout != "got x\n" {
		t.Errorf("attach -i: %+v", r)
	}
	// Not an interactive sh: the input can reach the terminal before the
	// shell has set up its line editor, and typeahead was then lost once
	// (exit 0, "exit 5" echoed but never run). read keeps typeahead.
	mustHull(t, root, nil, "run", "-dit", "--name", "term", "busybox:test", "sh", "-c", "read l; tty; read l; exit 5")
	defer hullCmd(t, root, nil, "rm", "-f", "term")
	if r := hullCmd(t, root, []byte("tty\nexit 5\n"), "attach", "term"); r.code != 5 || !strings.Contains(r.stdout, "/dev/pts/") {
		t.Errorf("attach -it: %+v", r)
	}
	if r := hullCmd(t, root, nil, "attach", "term"); r.code == 0 || !strings.Contains(r.stderr, "exited") {
		t.Errorf("attach to an exited container: %+v", r)
	}
}

func TestDetachKeys(t *testing.T) {
	keys, err := parseDetachKeys("ctrl-p,ctrl-q")
	if err != nil || string(keys) != "\x10\x11" {
		t.Fatalf("parse: %q %v", keys, err)
	}
	if _, err := parseDetachKeys("ctrl-1"); err == nil {
		t.Error("ctrl-1 accepted")
	}
	detached := false
	d := &detachReader{r: strings.NewReader("ab\x10c\x10\x11rest"), keys: keys, detach: func() { detached = true }}
	var got []byte
	buf := make([]byte, 64)
	for {
		n, err := d.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if err != errDetached {
				t.Fatalf("read: %v", err)
			}
			break
		}
	}
	if string(got) != "ab\x10c" || !detached {
		t.Errorf("got %q detached=%v", got, detached)
	}
}

// TestEventsCLI: events of a run in one hull process are listed by
// another, with --since/--until and filters.
func TestEventsCLI(t *testing.T) {
	root := busyboxRoot(t)
	t.Parallel()
	hullCmd(t, root, nil, "run", "--rm", "--name", "ev1", "busybox:test", "sh", "-c", "exit 3")
	r := mustHull(t, root, nil, "events", "--since", "10m", "--until", "0s", "-f", "container=ev1", "--filter", "event=die")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], " container die ") || !strings.Contains(lines[0], "exitCode=3") || !strings.Contains(lines[0], "name=ev1") {
		t.Errorf("events: %q", r.stdout)
	}
	r = mustHull(t, root, nil, "events", "--since", "10m", "--until", "0s", "-f", "container=ev1")
	for _, a := range []string{"create", "start", "die", "destroy"} {
		if !strings.Contains(r.stdout, " container "+a+" ") {
			t.Errorf("no %s in %q", a, r.stdout)
		}
	}
	if r := hullCmd(t, root, nil, "events", "-f", "colour=red"); r.code == 0 {
		t.Errorf("bad filter: %+v", r)
	}
}

// TestStatsStream: hull stats without --no-stream redraws its table until
// interrupted, and exits 0.
func TestStatsStream(t *testing.T) {
	root := busyboxRoot(t)
	t.Parallel()
	mustHull(t, root, nil, "run", "-d", "--name", "st", "busybox:test", "sleep", "60")
	defer hullCmd(t, root, nil, "rm", "-f", "st")
	cmd := exec.CommandContext(t.Context(), hullBin, "--root", root, "stats", "st")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	buf := make([]byte, 4096)
	for strings.Count(seen.String(), "CONTAINER ID") < 2 {
		n, err := out.Read(buf)
		seen.Write(buf[:n])
		if err != nil {
			t.Fatalf("stats ended: %v %q", err, seen.String())
		}
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Errorf("stats after Ctrl-C: %v", err)
	}
	if s := seen.String(); !strings.Contains(s, "\033[2J") || !strings.Contains(s, "st ") || strings.Contains(s, "--   ") {
		t.Errorf("stats output %q", s)
	}
}

// TestRunDetachedRm: run -d --rm is removed once it exits, though the
// hull that started it has gone.
func TestRunDetachedRm(t *testing.T) {
	root := busyboxRoot(t)
	t.Parallel()
	mustHull(t, root, nil, "run", "-d", "--rm", "--name", "gone", "busybox:test", "sleep", "0.3")
	hullCmd(t, root, nil, "wait", "gone")
	if r := mustHull(t, root, nil, "ps", "-aq"); r.stdout != "" {
		t.Errorf("ps -aq after a run -d --rm exited: %q", r.stdout)
	}
}

// TestStartInteractive: create -i, then start -ai feeds it hull's stdin.
func TestStartInteractive(t *testing.T) {
	root := busyboxRoot(t)
	t.Parallel()
	mustHull(t, root, nil, "create", "-i", "--name", "ci", "busybox:test", "sh", "-c", `read l; echo "got $l"; exit 6`)
	defer hullCmd(t, root, nil, "rm", "-f", "ci")
	if r := hullCmd(t, root, []byte("y\n"), "start", "-ai", "ci"); r.code != 6 || r.stdout != "got y\n" {
		t.Errorf("start -ai: %+v", r)
	}
}
