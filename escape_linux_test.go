package hull

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// escapeProbe runs in a container over and over: each visible process
// must have no effective, permitted or bounding capability outside the
// container's bounding set (what its own processes may ever hold), and
// no descriptor, cwd or root that leads out of the container: a
// directory whose parents reach the host's marker file (written in the
// host's /), or a file that is not the file of the same name inside the
// container; and each must be under seccomp as the probe is (a process
// it can ptrace could make the calls the filter refuses). The probe
// itself (an exec, which joins PID 1's namespaces)
// must be in the container's cgroup namespace. It prints BAD lines, then
// "probed N".
const escapeProbe = `
grep -v ':/$' /proc/self/cgroup | sed 's/^/BAD cgroup /'
me=$(grep CapBnd /proc/self/status | cut -f2)
sc=$(grep '^Seccomp:' /proc/self/status | cut -f2)
i=0
while [ $i -lt "$1" ]; do
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    for k in CapEff CapPrm CapBnd; do
      c=$(grep $k $d/status 2>/dev/null | cut -f2)
      if [ -n "$c" ] && [ $(( 0x$c & ~0x$me )) -ne 0 ]; then
        echo "BAD $k $p $c $(tr '\0' ' ' <$d/cmdline 2>/dev/null)"
      fi
    done
    s=$(grep '^Seccomp:' $d/status 2>/dev/null | cut -f2)
    if [ -n "$s" ] && [ "$s" != "$sc" ]; then
      echo "BAD seccomp $p $s $(tr '\0' ' ' <$d/cmdline 2>/dev/null)"
    fi
    for f in $d/fd/* $d/cwd $d/root; do
      l=$(readlink $f 2>/dev/null) || continue
      case "$l" in /*) ;; *) continue ;; esac
      case "$l" in *"(deleted)") continue ;; esac
      if [ -c $f ]; then
        continue # a device: what it reaches the device cgroup decides
      elif [ -d $f ]; then
        up=$f
        for n in 1 2 3 4 5 6 7 8 9 10 11 12; do
          up=$up/..
          if [ -e "$up/$2" ]; then echo "BAD dir $p $f $l"; break; fi
        done
      else
        # A process that ends (an exec's helper) closes its fds between
        # two looks: a file that no longer stats is no finding.
        got=$(stat -L -c %d:%i:%F $f 2>/dev/null) || continue
        case "$got" in *"character special file") continue ;; esac
        if [ "${got%:*}" != "$(stat -c %d:%i "$l" 2>/dev/null)" ]; then
          echo "BAD file $p $f $l"
        fi
      fi
    done
  done
  i=$((i+1))
done
echo probed $i
`

// TestNoHostReach is finding 1 of issue 13 (the resident init's host
// descriptors and capabilities, reachable with SYS_PTRACE): with
// WithCapAdd("ALL"), in each kind of container, while execs come and go,
// nothing the container sees holds more than it or leads to the host.
func TestNoHostReach(t *testing.T) {
	rt := containerTest(t)
	marker := "hull-escape-marker-" + filepath.Base(t.TempDir())
	if err := os.WriteFile("/"+marker, []byte("host"), 0o600); err != nil {
		t.Skipf("cannot write a marker in the host's /: %v", err)
	}
	t.Cleanup(func() { os.Remove("/" + marker) })
	for _, tc := range []struct {
		name string
		opts []RunOption
	}{
		{"attached", nil},
		{"detached", []RunOption{WithDetached()}},
		{"init", []RunOption{WithInit()}},
		{"detached-init", []RunOption{WithDetached(), WithInit()}},
		{"tty-detached", []RunOption{WithDetached(), WithTTY()}},
	} {
		// Every capability Docker lets one add, and the one of the
		// finding: then a process with more than the container shows.
		for _, cap := range []string{"ALL", "SYS_PTRACE"} {
			t.Run(tc.name+"-"+cap, func(t *testing.T) {
				probeHostReach(t, rt, marker, append([]RunOption{WithCapAdd(cap)}, tc.opts...))
			})
		}
	}
}

// probeHostReach runs escapeProbe in a container made with opts while
// other execs come and go.
func probeHostReach(t *testing.T, rt *Runtime, marker string, opts []RunOption) {
	opts = append([]RunOption{WithNetworkMode("none"), WithCmd("sleep", "600")}, opts...)
	c, err := rt.Run(t.Context(), "busybox:test", opts...)
	if c != nil {
		t.Cleanup(func() { c.Remove(context.Background(), WithForce()) })
	}
	if err != nil {
		t.Fatal(err)
	}
	// Execs come and go while the probe looks, so that their
	// helpers are seen if they are visible at all.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Exec(context.Background(), []string{"true"}); err != nil {
					t.Errorf("exec: %v", err)
					return
				}
			}
		}()
	}
	var out bytes.Buffer
	_, err = c.Exec(t.Context(), []string{"sh", "-c", escapeProbe, "probe", "15", marker},
		WithExecStdout(&out), WithExecStderr(&out))
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "BAD") || !strings.Contains(out.String(), "probed 15") {
		t.Fatalf("the container reaches past itself:\n%s", out.String())
	}
}
