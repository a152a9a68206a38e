//go:build linux

package hull

import (
	"os"
	"strings"
	"testing"
)

// deviceProbe makes a node for the host's first virtual console screen
// (/dev/vcs, char 7:0: readable by root on the host, not in Docker's
// allow list) and reads it, then uses an allowed device.
const deviceProbe = `mknod /tmp/vcs c 7 0 || exit 9
head -c 1 /tmp/vcs >/dev/null 2>/tmp/err && echo vcs-read || { echo vcs-denied; cat /tmp/err; }
echo x > /dev/null && echo null-ok`

// TestContainerDeviceRules: the default capabilities include CAP_MKNOD, so
// Docker's device rules (internal/spec) are what keeps a container from
// using a node it made for a host device; a privileged container may.
// On cgroup v1 and, on the host's empty cgroup2 mount, v2 (eBPF).
func TestContainerDeviceRules(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/vcs"); err != nil {
		t.Skip("no /dev/vcs on this host to probe with")
	}
	probe := func(t *testing.T, rt *Runtime) {
		st, out, err := run(t, rt, WithNetworkMode(NetworkModeNone), WithCmd("sh", "-c", deviceProbe))
		if err != nil || st.ExitCode != 0 {
			t.Fatalf("%+v %v: %s", st, err, out)
		}
		if !strings.Contains(out, "vcs-denied") || !strings.Contains(out, "not permitted") || !strings.Contains(out, "null-ok") {
			t.Errorf("default container, want the made node denied and /dev/null usable:\n%s", out)
		}
		st, out, err = run(t, rt, WithNetworkMode(NetworkModeNone), WithPrivileged(), WithCmd("sh", "-c", deviceProbe))
		if err != nil || st.ExitCode != 0 {
			t.Fatalf("privileged: %+v %v: %s", st, err, out)
		}
		if !strings.Contains(out, "vcs-read") {
			t.Errorf("privileged container, want the node readable:\n%s", out)
		}
		// An exec'd process is under the same rules.
		c, err := rt.Run(t.Context(), "busybox:test", WithNetworkMode(NetworkModeNone), WithCmd("sleep", "30"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
		var eout syncBuffer
		res, err := c.Exec(t.Context(), []string{"sh", "-c", deviceProbe}, WithExecStdout(&eout), WithExecStderr(&eout))
		if err != nil || res.ExitCode != 0 || !strings.Contains(eout.String(), "vcs-denied") {
			t.Errorf("exec: %+v %v, want the made node denied:\n%s", res, err, eout.String())
		}
	}
	t.Run("v1", func(t *testing.T) { probe(t, containerTest(t)) })
	t.Run("v2", func(t *testing.T) { probe(t, cgroupV2Test(t)) })
}
