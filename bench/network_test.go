//go:build linux

package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull"
)

// benchNet is the name of the user-defined bridge network the network
// benchmarks create in hull, docker and podman alike.
const benchNet = "hull-bench"

// hullNetwork creates benchNet in rt, removed after b.
func hullNetwork(b *testing.B, rt *hull.Runtime) *hull.Network {
	b.Helper()
	n, err := rt.CreateNetwork(context.Background(), benchNet)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := n.Remove(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return n
}

// dockerNetwork creates benchNet in the private dockerd (once) and
// loads busyboxRef into it.
func dockerNetwork(b *testing.B, tarball []byte) {
	b.Helper()
	needDocker(b)
	dockerBusybox(b, tarball)
	peers.Lock()
	defer peers.Unlock()
	if !peers.dockerNet {
		run(b, "docker", "network", "create", benchNet)
		peers.dockerNet = true
	}
}

// podmanNetwork creates benchNet in podman (once) and returns podman.
func podmanNetwork(b *testing.B, tarball []byte) *podman {
	b.Helper()
	p := needPodman(b, tarball)
	peers.Lock()
	defer peers.Unlock()
	if !p.net {
		p.run(b, "network", "create", benchNet)
		p.net = true
	}
	return p
}

// BenchmarkRunPublish is BenchmarkRun on a user-defined bridge network
// with one published port (127.0.0.1, a free host port, to port 80):
// create, start, wait for and remove a container running /bin/true. hull:
// WithNetwork + WithPublish; docker and podman: `run --rm --network
// hull-bench -p 127.0.0.1::80`.
func BenchmarkRunPublish(b *testing.B) {
	tarball := busyboxTar(b)

	b.Run("hull", func(b *testing.B) {
		rt := hullBusybox(b, tarball)
		n := hullNetwork(b, rt)
		runHullSteady(b, rt, false, hull.WithNetwork(n), hull.WithPublish("127.0.0.1::80"))
	})
	b.Run("docker", func(b *testing.B) {
		dockerNetwork(b, tarball)
		for b.Loop() {
			run(b, "docker", "run", "--rm", "--network", benchNet, "-p", "127.0.0.1::80", busyboxRef, "/bin/true")
		}
	})
	b.Run("podman", func(b *testing.B) {
		p := podmanNetwork(b, tarball)
		for b.Loop() {
			p.run(b, p.runArgs("--rm", "--network", benchNet, "-p", "127.0.0.1::80", busyboxRef, "/bin/true")...)
		}
	})
}

// netConcurrentN is how many containers BenchmarkRunConcurrentNetwork
// starts at once: 50, or 5 with -test.short.
func netConcurrentN() int {
	if testing.Short() {
		return 5
	}
	return 50
}

// BenchmarkRunConcurrentNetwork starts netConcurrentN busybox containers
// running `sleep 1000` on one user-defined bridge network at once and
// times until all of them run; then removes them, outside the timer.
func BenchmarkRunConcurrentNetwork(b *testing.B) {
	tarball := busyboxTar(b)
	n := netConcurrentN()
	impls := []struct {
		name  string
		setup func(b *testing.B) starter
	}{
		{"hull", func(b *testing.B) starter {
			rt := hullBusybox(b, tarball)
			return hullStarter(b, rt, hull.WithNetwork(hullNetwork(b, rt)))
		}},
		{"docker", func(b *testing.B) starter {
			dockerNetwork(b, tarball)
			return cliStarter(b, "docker", nil,
				[]string{"run", "-d", "--network", benchNet, busyboxRef, "sleep", "1000"},
				[]string{"rm", "-f"})
		}},
		{"podman", func(b *testing.B) starter {
			p := podmanNetwork(b, tarball)
			return cliStarter(b, "podman", p.global,
				p.runArgs("-d", "--network", benchNet, busyboxRef, "sleep", "1000"),
				[]string{"rm", "--force", "--time", "0"})
		}},
	}
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			timeStarts(b, impl.setup(b), n)
		})
	}
}

// throughputBytes is what BenchmarkPublishThroughput sends per
// iteration: 256 MiB, or 16 MiB with -test.short.
func throughputBytes() int64 {
	if testing.Short() {
		return 16 << 20
	}
	return 256 << 20
}

// BenchmarkPublishThroughput sends data from the host (the benchmark, to
// 127.0.0.1) through a published port to bin/sink in a container on a
// user-defined bridge network, one connection per iteration, and reports
// MB/s. hull: its published port (nftables DNAT); docker-proxy: docker's
// userland proxy, run standalone in front of the same hull container, as
// dockerd runs it for each published port (and what traffic to
// 127.0.0.1 takes with docker's default userland-proxy); docker and podman:
// their own `run -d -p 127.0.0.1::80` of the same image.
func BenchmarkPublishThroughput(b *testing.B) {
	tarball := busyboxTar(b)
	size := throughputBytes()
	// hullSink runs bin/sink in rt on a new network, publishing port 80 on
	// 127.0.0.1, and returns the container.
	hullSink := func(b *testing.B) *hull.Container {
		ctx := context.Background()
		rt := hullBusybox(b, tarball)
		c, err := rt.Run(ctx, busyboxRef, hull.WithCmd("/bin/sink"),
			hull.WithNetwork(hullNetwork(b, rt)), hull.WithPublish("127.0.0.1::80"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Remove(ctx, hull.WithForce()) })
		return c
	}
	impls := []struct {
		name  string
		setup func(b *testing.B) string // the host address to send to
	}{
		{"hull", func(b *testing.B) string {
			in, err := hullSink(b).Inspect(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			ports := in.NetworkSettings.Ports
			if len(ports) != 1 {
				b.Fatalf("published ports %+v, want one", ports)
			}
			return net.JoinHostPort(ports[0].HostIP, strconv.Itoa(int(ports[0].HostPort)))
		}},
		{"docker-proxy", func(b *testing.B) string {
			proxy := dockerProxyPath(b)
			in, err := hullSink(b).Inspect(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			ip := in.NetworkSettings.IPAddress
			return startDockerProxy(b, proxy, ip)
		}},
		{"docker", func(b *testing.B) string {
			dockerNetwork(b, tarball)
			id := output(b, "docker", "run", "-d", "--network", benchNet, "-p", "127.0.0.1::80", busyboxRef, "/bin/sink")
			b.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
			return firstLine(output(b, "docker", "port", id, "80/tcp"))
		}},
		{"podman", func(b *testing.B) string {
			p := podmanNetwork(b, tarball)
			id := p.output(b, p.runArgs("-d", "--network", benchNet, "-p", "127.0.0.1::80", busyboxRef, "/bin/sink")...)
			b.Cleanup(func() { p.cmd("rm", "--force", "--time", "0", id).Run() })
			return firstLine(p.output(b, "port", id, "80/tcp"))
		}},
	}
	for _, impl := range impls {
		b.Run(impl.name, func(b *testing.B) {
			addr := impl.setup(b)
			waitSink(b, addr)
			b.SetBytes(size)
			for b.Loop() {
				if err := send(addr, size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// firstLine is the first line of s (`docker port` lists IPv4, then IPv6).
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

// send sends size bytes to the sink at addr on one connection and checks
// that it counted them all.
func send(addr string, size int64) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		if _, err := c.Write(buf[:n]); err != nil {
			return fmt.Errorf("send to %s: %w", addr, err)
		}
		left -= n
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("sink at %s: no count: %w", addr, err)
	}
	if got, _ := strconv.ParseInt(strings.TrimSpace(reply), 10, 64); got != size {
		return fmt.Errorf("sink at %s counted %q bytes, sent %d", addr, reply, size)
	}
	return nil
}

// waitSink waits (10s at most) until the sink answers at addr.
func waitSink(b *testing.B, addr string) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := send(addr, 1)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("sink at %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dockerProxyPath finds docker's userland proxy (docker.io installs it in
// /usr/sbin or /usr/libexec/docker), skipping b without it.
func dockerProxyPath(b *testing.B) string {
	b.Helper()
	if p, err := exec.LookPath("docker-proxy"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/docker-proxy", "/usr/libexec/docker/docker-proxy"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	b.Skip("docker-proxy not installed (apt-get install docker.io)")
	return ""
}

// startDockerProxy runs docker-proxy from a free port on 127.0.0.1 to
// ip:80 as dockerd does (it reports "0" on fd 3 once listening), stopped
// after b, and returns the address it listens on.
func startDockerProxy(b *testing.B, proxy, ip string) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(proxy, "-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", strconv.Itoa(port),
		"-container-ip", ip, "-container-port", "80")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w.Close()
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	status, _ := io.ReadAll(io.LimitReader(r, 64))
	if strings.TrimSpace(string(status)) != "0" {
		b.Fatalf("docker-proxy: %q", status)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
