//go:build linux

package bench

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/internal/initproc"
)

// BenchmarkExec runs /bin/true in an already running busybox container
// and waits for it: hull's Container.Exec, `runc exec` on a bundle
// started with `runc run -d` when runc is installed, and `docker exec`
// into a container of a private dockerd when Docker is installed.
func BenchmarkExec(b *testing.B) {
	tarball := busyboxTar(b)

	b.Run("hull", func(b *testing.B) {
		ctx := context.Background()
		rt := hullBusybox(b, tarball)
		c, err := rt.Run(ctx, busyboxRef, hull.WithCmd("sleep", "1000"), hull.WithNetworkMode("none"))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Remove(ctx, hull.WithForce())
		// A Runtime's first Exec starts its spawn thread: what is timed
		// is a long-lived program's exec.
		if _, err := c.Exec(ctx, []string{"/bin/true"}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			initproc.Trace("B exec begin")
			res, err := c.Exec(ctx, []string{"/bin/true"})
			initproc.Trace("B exec done")
			if err != nil || res.ExitCode != 0 {
				b.Fatalf("exec: %+v %v", res, err)
			}
		}
	})

	b.Run("runc", func(b *testing.B) {
		need(b, "runc")
		bundle := ociBundle(b, "runc", tarball, "sleep", "1000")
		state := filepath.Join(bundle, "state")
		id := "hull-bench-exec"
		// Not run(): the container keeps the stdio it inherits, so
		// CombinedOutput would wait for it to exit.
		if err := exec.Command("runc", "--root", state, "run", "-d", "--bundle", bundle, id).Run(); err != nil {
			b.Fatalf("runc run -d: %v", err)
		}
		defer exec.Command("runc", "--root", state, "delete", "-f", id).Run()
		for b.Loop() {
			if out, err := exec.Command("runc", "--root", state, "exec", id, "/bin/true").CombinedOutput(); err != nil {
				b.Fatalf("runc exec: %v\n%s", err, out)
			}
		}
	})

	b.Run("docker", func(b *testing.B) {
		needDocker(b)
		dockerBusybox(b, tarball)
		id := output(b, "docker", "run", "-d", "--network", "none", busyboxRef, "sleep", "1000")
		defer exec.Command("docker", "rm", "-f", id).Run()
		for b.Loop() {
			run(b, "docker", "exec", id, "/bin/true")
		}
	})
}
