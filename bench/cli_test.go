//go:build linux

package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// cliBatch is how many times one op of a CLI benchmark starts the
// command: it reports their median, not their mean, so that a single
// descheduled start (2 shared cores) does not move it.
const cliBatch = 25

// BenchmarkCLIVersion times a whole start of the CLI that does nothing:
// `hull --version` (the hull CLI, built by the benchmark), against
// `runc --version`, `crun --version`, `docker --version` and
// `podman --version` when they are installed (none needs a daemon).
// What it measures is the process's start-up: exec, dynamic linking,
// the Go runtime and every linked package's init.
//
// With HULL_CLI_BASELINE=<path of another hull binary> set, each batch
// alternates between the two and also reports the other's median as
// baseline-ms/exec: an old and a new build compared in the same run.
func BenchmarkCLIVersion(b *testing.B) {
	b.Run("hull", func(b *testing.B) {
		benchCLI(b, hullCLI(b), "--version")
	})
	for _, peer := range []string{"runc", "crun", "docker", "podman"} {
		b.Run(peer, func(b *testing.B) {
			need(b, peer)
			benchCLI(b, peer, "--version")
		})
	}
}

// BenchmarkCLIPs times `hull ps` on an empty root (Open, the listing,
// Close), against `runc list` and `crun list` on an empty state
// directory when they are installed. HULL_CLI_BASELINE as for
// BenchmarkCLIVersion.
func BenchmarkCLIPs(b *testing.B) {
	b.Run("hull", func(b *testing.B) {
		root := freshDir(b)
		b.Cleanup(func() { os.RemoveAll(root) })
		cli := hullCLI(b)
		run(b, cli, "--root", root, "ps") // creates the root's layout: later runs find it
		benchCLI(b, cli, "--root", root, "ps")
	})
	for _, peer := range []string{"runc", "crun"} {
		b.Run(peer, func(b *testing.B) {
			need(b, peer)
			state := freshDir(b)
			b.Cleanup(func() { os.RemoveAll(state) })
			benchCLI(b, peer, "--root", filepath.Join(state, "state"), "list")
		})
	}
}

// benchCLI runs name with args cliBatch times per op and reports the
// median wall time of one run as ms/exec (and the baseline's, see
// BenchmarkCLIVersion, for hull).
func benchCLI(b *testing.B, name string, args ...string) {
	b.Helper()
	baseline := ""
	if filepath.Base(name) == "hull" {
		baseline = os.Getenv("HULL_CLI_BASELINE")
	}
	var mine, theirs []time.Duration
	for b.Loop() {
		for range cliBatch {
			mine = append(mine, timeCLI(b, name, args...))
			if baseline != "" {
				theirs = append(theirs, timeCLI(b, baseline, args...))
			}
		}
	}
	b.ReportMetric(medianMs(mine), "ms/exec")
	if baseline != "" {
		b.ReportMetric(medianMs(theirs), "baseline-ms/exec")
	}
}

// timeCLI runs name with args once, its output discarded, and returns
// how long it took.
func timeCLI(b *testing.B, name string, args ...string) time.Duration {
	b.Helper()
	cmd := exec.Command(name, args...)
	t := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return time.Since(t)
}

func medianMs(d []time.Duration) float64 {
	slices.Sort(d)
	return float64(d[len(d)/2].Microseconds()) / 1000
}
