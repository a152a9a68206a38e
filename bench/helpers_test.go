package bench

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/testutil"
)

// freshDir returns an empty directory that the caller removes.
func freshDir(b *testing.B) string {
	b.Helper()
	dir, err := os.MkdirTemp("", "hull-bench-")
	if err != nil {
		b.Fatal(err)
	}
	return dir
}

// need skips the benchmark unless every tool is installed.
func need(b *testing.B, tools ...string) {
	b.Helper()
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			b.Skipf("%s not installed (apt-get install %s)", t, t)
		}
	}
}

// needDocker skips the benchmark unless a docker daemon answers.
func needDocker(b *testing.B) {
	b.Helper()
	need(b, "docker")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, "docker", "info").Run(); err != nil {
		b.Skip("no docker daemon answers `docker info`")
	}
}

// run runs a peer's command, failing the benchmark with its output.
func run(b *testing.B, name string, args ...string) {
	b.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// imageBytes is the total size of the image's blobs in the registry.
func imageBytes(b *testing.B, reg *testutil.Registry, p testutil.Pushed) int64 {
	b.Helper()
	repo := reg.Repository(b, "bench/pull")
	var total int64
	for _, d := range p.LayerDigests {
		desc, err := repo.Blobs().Resolve(context.Background(), d.String())
		if err != nil {
			b.Fatal(err)
		}
		total += desc.Size
	}
	return total
}
