package hulltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hullbox/hull"
)

// failLogLines is how many of a container's last log lines go to t.Log when
// its test failed.
const failLogLines = 100

// Run starts a container of ref for the test and returns it, running. The
// image is pulled if the root lacks it. Every port the image EXPOSEs is
// published on a random port of 127.0.0.1 (Endpoint tells which); opts come
// after those defaults and hulltest's labels (LabelTest, LabelOwner), and
// may add to them. The container belongs to the test's Runtime: when the
// test ends it is removed (its last log lines go to t.Log first if the test
// failed), and if the test binary dies it dies too.
//
// A failure to pull or start fails the test (t.Fatal); a kernel feature
// hull needs and lacks (hull.ErrUnsupported) skips it.
func Run(t testing.TB, ref string, opts ...hull.RunOption) *hull.Container {
	t.Helper()
	rt := Runtime(t)
	ctx := testContext(t)
	img, err := rt.Image(ctx, ref)
	if errors.Is(err, hull.ErrNotFound) {
		img, err = rt.Pull(ctx, ref)
	}
	if err != nil {
		t.Fatalf("hulltest: image %s: %v", ref, err)
	}
	all := []hull.RunOption{hull.WithLabels(labels(t))}
	for _, p := range exposed(img) {
		all = append(all, hull.WithPublish("127.0.0.1::"+p))
	}
	c, err := rt.Run(ctx, ref, append(all, opts...)...)
	if errors.Is(err, hull.ErrUnsupported) {
		t.Skipf("hulltest: run %s: %v", ref, err)
	}
	if err != nil {
		t.Fatalf("hulltest: run %s: %v", ref, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if t.Failed() {
			logTail(ctx, t, c)
		}
		if err := c.Remove(ctx, hull.WithForce()); err != nil && !errors.Is(err, hull.ErrNotFound) {
			t.Errorf("hulltest: remove container %s: %v", c.Name(), err)
		}
	})
	return c
}

// exposed lists the image's EXPOSEd ports ("80/tcp"), sorted.
func exposed(img *hull.Image) []string {
	var ports []string
	for p := range img.Config().ExposedPorts {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	return ports
}

// logTail writes the container's last log lines to t.Log.
func logTail(ctx context.Context, t testing.TB, c *hull.Container) {
	t.Helper()
	lines, err := lastLines(ctx, c, failLogLines)
	status := ""
	if in, err := c.Inspect(ctx); err == nil {
		status = string(in.State.Status)
		if !in.State.Running {
			status += fmt.Sprintf(", exit code %d", in.State.ExitCode)
		}
	}
	if err != nil {
		t.Logf("hulltest: container %s (%s): logs: %v", c.Name(), status, err)
		return
	}
	t.Logf("hulltest: container %s (%s), last %d log lines:\n%s", c.Name(), status, len(lines), indent(lines))
}

// lastLines returns up to n of the container's last log lines, both
// streams, in order.
func lastLines(ctx context.Context, c *hull.Container, n int) ([]string, error) {
	var w lockedBuffer
	if err := c.Logs(ctx, hull.WithLogsStdout(&w), hull.WithLogsStderr(&w), hull.WithLogsTail(n)); err != nil {
		return nil, err
	}
	s := strings.TrimSuffix(w.String(), "\n")
	if s == "" {
		return nil, nil
	}
	return strings.Split(s, "\n"), nil
}

func indent(lines []string) string {
	if len(lines) == 0 {
		return "\t(no output)"
	}
	return "\t" + strings.Join(lines, "\n\t")
}

// lockedBuffer is a bytes.Buffer that both log streams may write to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Endpoint returns "127.0.0.1:port", the host address that reaches the
// container's published port ("80/tcp", "80" for tcp, "53/udp"). It fails
// the test if the port is not published: Run publishes the ports the image
// EXPOSEs; others need hull.WithPublish("127.0.0.1::PORT").
func Endpoint(t testing.TB, c *hull.Container, port string) string {
	t.Helper()
	addr, err := endpoint(testContext(t), c, port)
	if err != nil {
		t.Fatalf("hulltest: %v", err)
	}
	return addr
}

func endpoint(ctx context.Context, c *hull.Container, port string) (string, error) {
	num, proto, err := parsePort(port)
	if err != nil {
		return "", err
	}
	in, err := c.Inspect(ctx)
	if err != nil {
		return "", err
	}
	var found *hull.PortBinding
	for i, p := range in.NetworkSettings.Ports {
		if p.ContainerPort != num || p.Proto != proto {
			continue
		}
		if found == nil || p.HostIP == "127.0.0.1" {
			found = &in.NetworkSettings.Ports[i]
		}
	}
	if found == nil {
		var have []string
		for _, p := range in.NetworkSettings.Ports {
			have = append(have, p.String())
		}
		return "", fmt.Errorf("container %s: port %s is not published (published: %v); Run publishes what the image EXPOSEs, else pass hull.WithPublish(\"127.0.0.1::%d/%s\")",
			c.Name(), port, have, num, proto)
	}
	host := found.HostIP
	if host == "" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(int(found.HostPort))), nil
}

// parsePort parses "80/tcp", "80" (tcp) or "53/udp".
func parsePort(port string) (uint16, string, error) {
	num, proto, ok := strings.Cut(port, "/")
	if !ok {
		proto = "tcp"
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil || n == 0 || (proto != "tcp" && proto != "udp") {
		return 0, "", fmt.Errorf("bad port %q: want \"80/tcp\", \"80\" or \"53/udp\"", port)
	}
	return uint16(n), proto, nil
}

// Exec runs argv in the running container and returns what it wrote to
// stdout and stderr. It fails the test if the command cannot start or exits
// with a code other than 0.
func Exec(t testing.TB, c *hull.Container, argv ...string) string {
	t.Helper()
	var out lockedBuffer
	res, err := c.Exec(testContext(t), argv, hull.WithExecStdout(&out), hull.WithExecStderr(&out))
	if err != nil {
		t.Fatalf("hulltest: exec %q in %s: %v", argv, c.Name(), err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("hulltest: exec %q in %s: exit code %d; output:\n%s", argv, c.Name(), res.ExitCode, out.String())
	}
	return out.String()
}
