//go:build linux

package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/internal/testutil"
)

// BenchmarkOpenScale measures what a root's size costs: Open (and Close)
// of a root holding n images and n exited containers (ms/open), listing
// every container (Containers(WithAllContainers()): ms/ps-a), and
// inspecting each listed one, as `hull ps -a` does (ms/inspect-all), and
// `hull ps -a` itself (ms/cli-ps-a; HULL_CLI_BASELINE as for
// BenchmarkCLIVersion adds another build's, baseline-ms/cli-ps-a), for
// n = 10, 100 and 1000 (10 and 100 with -short): the sub-benchmarks show
// how each grows. Each image is busybox plus a file of its own (a layer
// of its own); each container ran /bin/true.
func BenchmarkOpenScale(b *testing.B) {
	tarball := busyboxTar(b)
	sizes := []int{10, 100, 1000}
	if testing.Short() {
		sizes = sizes[:2]
	}
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			rt := hullBusybox(b, tarball)
			ctx := context.Background()
			root := rt.Root()
			for i := range n {
				ref := busyboxRef
				if i > 0 {
					ref = fmt.Sprintf("scale:%d", i)
					layer := testutil.TarBytes(b, []testutil.File{{Name: "id", Mode: 0o644, Body: []byte(ref)}})
					if _, err := rt.Import(ctx, bytes.NewReader(layer), ref); err != nil {
						b.Fatal(err)
					}
				}
				c, err := rt.Run(ctx, busyboxRef, hull.WithNetworkMode(hull.NetworkModeNone), hull.WithCmd("/bin/true"))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
			var open, list, inspect time.Duration
			for b.Loop() {
				t0 := time.Now()
				again, err := hull.Open(ctx, hull.WithRoot(root))
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				cs, err := again.Containers(ctx, hull.WithAllContainers())
				if err != nil || len(cs) != n {
					b.Fatalf("%d containers, %v; want %d", len(cs), err, n)
				}
				t2 := time.Now()
				for _, c := range cs {
					if _, err := c.Inspect(ctx); err != nil {
						b.Fatal(err)
					}
				}
				inspect += time.Since(t2)
				list += t2.Sub(t1)
				open += t1.Sub(t0)
				if err := again.Close(); err != nil {
					b.Fatal(err)
				}
			}
			// `hull ps -a` as a user runs it: a process of its own (Open,
			// the listing, an Inspect of each, Close), median of 5.
			cli, baseline := hullCLI(b), os.Getenv("HULL_CLI_BASELINE")
			var mine, theirs []time.Duration
			for range 5 {
				mine = append(mine, timeCLI(b, cli, "--root", root, "ps", "-a"))
				if baseline != "" {
					theirs = append(theirs, timeCLI(b, baseline, "--root", root, "ps", "-a"))
				}
			}
			b.ReportMetric(medianMs(mine), "ms/cli-ps-a")
			if baseline != "" {
				b.ReportMetric(medianMs(theirs), "baseline-ms/cli-ps-a")
			}
			b.ReportMetric(float64(open.Microseconds())/1000/float64(b.N), "ms/open")
			b.ReportMetric(float64(list.Microseconds())/1000/float64(b.N), "ms/ps-a")
			b.ReportMetric(float64(inspect.Microseconds())/1000/float64(b.N), "ms/inspect-all")
		})
	}
}
