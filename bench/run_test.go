//go:build linux

package bench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/internal/initproc"
)

// BenchmarkRun creates, starts, waits for and removes a container running
// /bin/true from a busybox image, no network: hull's library path; the
// hull CLI (`hull run --rm --network none`, built by the benchmark);
// `runc run` and `crun run` on a prepared bundle when they are installed
// (crun refuses cgroup v1 hybrid hosts: skipped there); `docker run --rm
// --network none` and `podman run --rm --network none` of the same image
// (loaded from an archive hull saved) when they are installed.
//
// With HULL_TRACE=<file> set, hull's side appends a timestamped line per
// start-up phase to the file (initproc.Trace): scripts/trace_report.py
// turns it into per-phase medians.
func BenchmarkRun(b *testing.B) {
	tarball := busyboxTar(b)

	b.Run("hull", func(b *testing.B) {
		rt := hullBusybox(b, tarball)
		runHullSteady(b, rt, false, hull.WithNetworkMode(hull.NetworkModeNone))
	})
	// The same container created, then started: Create+Start+Wait.
	b.Run("hull-create-start", func(b *testing.B) {
		rt := hullBusybox(b, tarball)
		runHullSteady(b, rt, true, hull.WithNetworkMode(hull.NetworkModeNone))
	})
	b.Run("hull-detached", func(b *testing.B) {
		rt := hullBusybox(b, tarball)
		runHullSteady(b, rt, false, hull.WithNetworkMode(hull.NetworkModeNone), hull.WithDetached())
	})
	b.Run("hull-tty", func(b *testing.B) {
		rt := hullBusybox(b, tarball)
		runHullSteady(b, rt, false, hull.WithNetworkMode(hull.NetworkModeNone), hull.WithTTY())
	})

	// With HULL_CLI_BASELINE=<another hull binary> (BenchmarkCLIVersion),
	// each op runs both, alternating, and reports the medians of each:
	// ms/run and baseline-ms/run, an old and a new build in the same run.
	b.Run("hull-cli", func(b *testing.B) {
		cli := hullCLI(b)
		root := freshDir(b)
		b.Cleanup(func() { os.RemoveAll(root) })
		run(b, cli, "--root", root, "load", "--quiet", "--input", savedBusybox(b, tarball))
		args := []string{"--root", root, "run", "--rm", "--network", "none", busyboxRef, "/bin/true"}
		baseline := os.Getenv("HULL_CLI_BASELINE")
		var mine, theirs []time.Duration
		for b.Loop() {
			if baseline == "" {
				run(b, cli, args...)
				continue
			}
			mine = append(mine, timeCLI(b, cli, args...))
			theirs = append(theirs, timeCLI(b, baseline, args...))
		}
		if baseline != "" {
			b.ReportMetric(medianMs(mine), "ms/run")
			b.ReportMetric(medianMs(theirs), "baseline-ms/run")
		}
	})

	for _, peer := range []string{"runc", "crun"} {
		b.Run(peer, func(b *testing.B) {
			need(b, peer)
			bundle := ociBundle(b, peer, tarball, "/bin/true")
			state := filepath.Join(bundle, "state")
			i := 0
			for b.Loop() {
				i++
				id := "hull-bench-" + strconv.Itoa(i)
				out, err := exec.Command(peer, "--root", state, "run", "--bundle", bundle, id).CombinedOutput()
				if err != nil && bytes.Contains(out, []byte("hybrid mode not supported")) {
					b.Skipf("%s cannot run on this cgroup v1 hybrid host: %s", peer, bytes.TrimSpace(out))
				}
				if err != nil {
					b.Fatalf("%s run: %v\n%s", peer, err, out)
				}
			}
		})
	}

	b.Run("docker", func(b *testing.B) {
		needDocker(b)
		dockerBusybox(b, tarball)
		for b.Loop() {
			run(b, "docker", "run", "--rm", "--network", "none", busyboxRef, "/bin/true")
		}
	})
	b.Run("podman", func(b *testing.B) {
		p := needPodman(b, tarball)
		for b.Loop() {
			p.run(b, p.runArgs("--rm", "--network", "none", busyboxRef, "/bin/true")...)
		}
	})
}

// BenchmarkRunDefaultNetwork is BenchmarkRun on each one's default
// bridge network: hull's library path (its bridge, made by the first
// Run, stays while the Runtime is open); the hull CLI (`hull run --rm
// IMAGE /bin/true`: a one-shot process makes the root's default bridge
// and its rules, and deletes them at exit with the container's veth, as
// nothing may be left behind; each link's deletion waits for the kernel's
// RCU barrier); `docker run --rm` and `podman run --rm`, whose daemon or
// network backend keeps or remakes its bridge.
func BenchmarkRunDefaultNetwork(b *testing.B) {
	tarball := busyboxTar(b)

	b.Run("hull", func(b *testing.B) {
		rt := hullBusybox(b, tarball)
		runHullSteady(b, rt, false)
	})
	b.Run("hull-cli", func(b *testing.B) {
		cli := hullCLI(b)
		root := freshDir(b)
		b.Cleanup(func() { os.RemoveAll(root) })
		run(b, cli, "--root", root, "load", "--quiet", "--input", savedBusybox(b, tarball))
		for b.Loop() {
			run(b, cli, "--root", root, "run", "--rm", busyboxRef, "/bin/true")
		}
	})
	b.Run("docker", func(b *testing.B) {
		needDocker(b)
		dockerBusybox(b, tarball)
		for b.Loop() {
			run(b, "docker", "run", "--rm", busyboxRef, "/bin/true")
		}
	})
	b.Run("podman", func(b *testing.B) {
		p := needPodman(b, tarball)
		for b.Loop() {
			p.run(b, p.runArgs("--rm", busyboxRef, "/bin/true")...)
		}
	})
}

// runHullSteady times create+start+wait+remove of /bin/true on rt with
// opts, each phase traced for scripts/trace_report.py (HULL_TRACE). The
// first Run copies the binary into its sealed memfd, the second starts
// the warm init pool (internal/spawn): what is timed is a long-lived
// program's steady state. hull-cli in BenchmarkRun times a one-shot
// process, which has neither.
func runHullSteady(b *testing.B, rt *hull.Runtime, createStart bool, opts ...hull.RunOption) {
	ctx := context.Background()
	opts = append([]hull.RunOption{hull.WithCmd("/bin/true")}, opts...)
	runTrue := func() {
		initproc.Trace("B run begin")
		var c *hull.Container
		var err error
		if createStart {
			if c, err = rt.Create(ctx, busyboxRef, opts...); err == nil {
				err = c.Start(ctx)
			}
		} else {
			c, err = rt.Run(ctx, busyboxRef, opts...)
		}
		if err != nil {
			b.Fatal(err)
		}
		initproc.Trace("B run done")
		if st, err := c.Wait(ctx); err != nil || st.ExitCode != 0 {
			b.Fatalf("exit %+v, %v", st, err)
		}
		initproc.Trace("B wait done")
		if err := c.Remove(ctx); err != nil {
			b.Fatal(err)
		}
		initproc.Trace("B remove done")
	}
	runTrue()
	runTrue()
	for b.Loop() {
		runTrue()
	}
}
