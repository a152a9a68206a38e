package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BenchmarkExec runs /bin/true in an already running busybox container
// and waits for it: hull's Container.Exec, and `runc exec` on a bundle
// started with `runc run -d` when runc is installed.
func BenchmarkExec(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: containers need namespaces, mounts and cgroups")
	}
	tarball := testutil.TarBytes(b, testutil.BusyboxFiles(b))

	b.Run("hull", func(b *testing.B) {
		ctx := context.Background()
		root := freshDir(b)
		defer os.RemoveAll(root)
		rt, err := hull.Open(ctx, hull.WithRoot(root))
		if err != nil {
			b.Fatal(err)
		}
		defer rt.Close()
		cfg := ocispec.ImageConfig{Env: []string{testutil.DefaultPath}}
		if _, err := rt.Import(ctx, bytes.NewReader(tarball), "busybox:bench", hull.WithImportConfig(cfg)); err != nil {
			b.Fatal(err)
		}
		c, err := rt.Run(ctx, "busybox:bench", hull.WithCmd("sleep", "1000"))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Remove(ctx, hull.WithForceRemove())
		for b.Loop() {
			res, err := c.Exec(ctx, []string{"/bin/true"})
			if err != nil || res.ExitCode != 0 {
				b.Fatalf("exec: %+v %v", res, err)
			}
		}
	})

	b.Run("runc", func(b *testing.B) {
		need(b, "runc")
		bundle := ociBundle(b, "runc", tarball)
		defer os.RemoveAll(bundle)
		setArgs(b, bundle, "sleep", "1000")
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
}

// setArgs changes the bundle's process arguments.
func setArgs(b *testing.B, bundle string, args ...string) {
	b.Helper()
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		b.Fatal(err)
	}
	spec["process"].(map[string]any)["args"] = args
	if data, err = json.Marshal(spec); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
}
