package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BenchmarkRun creates, starts, waits for and removes a container running
// /bin/true from a busybox image, no network: hull's library path, and
// `runc run` and `crun run` on a prepared bundle when they are installed
// (crun refuses cgroup v1 hybrid hosts: skipped there).
func BenchmarkRun(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: containers need namespaces, mounts and cgroups")
	}
	files := testutil.BusyboxFiles(b)
	tarball := testutil.TarBytes(b, files)

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
		runTrue := func() {
			c, err := rt.Run(ctx, "busybox:bench", hull.WithCmd("/bin/true"))
			if err != nil {
				b.Fatal(err)
			}
			if st, err := c.Wait(ctx); err != nil || st.Code != 0 {
				b.Fatalf("exit %+v, %v", st, err)
			}
			if err := c.Remove(ctx); err != nil {
				b.Fatal(err)
			}
		}
		runTrue() // the first Run copies the binary into its sealed memfd
		for b.Loop() {
			runTrue()
		}
	})

	for _, peer := range []string{"runc", "crun"} {
		b.Run(peer, func(b *testing.B) {
			need(b, peer)
			bundle := ociBundle(b, peer, tarball)
			defer os.RemoveAll(bundle)
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
}

// ociBundle makes a runtime bundle of the busybox rootfs whose process is
// /bin/true, with the peer's default spec otherwise.
func ociBundle(b *testing.B, peer string, tarball []byte) string {
	b.Helper()
	bundle := freshDir(b)
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		b.Fatal(err)
	}
	tar := exec.Command("tar", "-x", "-C", rootfs)
	tar.Stdin = bytes.NewReader(tarball)
	if out, err := tar.CombinedOutput(); err != nil {
		b.Fatalf("untar: %v\n%s", err, out)
	}
	run(b, peer, "spec", "--bundle", bundle)
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		b.Fatal(err)
	}
	proc := spec["process"].(map[string]any)
	proc["args"] = []string{"/bin/true"}
	proc["terminal"] = false
	if data, err = json.Marshal(spec); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return bundle
}
