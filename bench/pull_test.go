//go:build linux

package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/internal/testutil"
)

// BenchmarkPull pulls and unpacks the ~100 MB, 5-layer bench image (2000
// small files, three layers of big random files, a deletion and a
// symlink) from a loopback registry into an empty root, with hull and with
// each peer present: skopeo copy + umoci unpack, and docker pull when a
// docker daemon answers.
func BenchmarkPull(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: unpacking layers sets owners and makes device nodes")
	}
	reg := testutil.StartRegistry(b, testutil.WithDiskStorage())
	img := testutil.BenchImage(b, 1)
	pushed := reg.Push(b, "bench/pull:1", img)
	total := imageBytes(b, reg, "bench/pull", pushed)

	b.Run("hull", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			b.StopTimer()
			root := freshDir(b)
			b.StartTimer()
			rt, err := hull.Open(context.Background(), hull.WithRoot(root))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := rt.Pull(context.Background(), pushed.Ref); err != nil {
				b.Fatal(err)
			}
			rt.Close()
			b.StopTimer()
			os.RemoveAll(root)
			b.StartTimer()
		}
	})
	b.Run("skopeo+umoci", func(b *testing.B) {
		need(b, "skopeo", "umoci")
		b.SetBytes(total)
		for b.Loop() {
			b.StopTimer()
			dir := freshDir(b)
			b.StartTimer()
			run(b, "skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://"+pushed.Ref, "oci:"+filepath.Join(dir, "layout")+":bench")
			run(b, "umoci", "unpack", "--image", filepath.Join(dir, "layout")+":bench", filepath.Join(dir, "bundle"))
			b.StopTimer()
			os.RemoveAll(dir)
			b.StartTimer()
		}
	})
	b.Run("docker", func(b *testing.B) {
		needDocker(b)
		b.SetBytes(total)
		for b.Loop() {
			run(b, "docker", "pull", "--quiet", pushed.Ref)
			b.StopTimer()
			exec.Command("docker", "rmi", "-f", pushed.Ref).Run()
			b.StartTimer()
		}
	})
}
