package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/internal/testutil"
)

// Every push goes to a registry started for that iteration (outside the
// timer): hull and skopeo both remember where they pushed blobs before and
// would mount them from there, so a second push to the same registry, even
// to a new repository, would measure mounts instead of uploads.

// pushSource is a loopback registry holding the bench image (tag 1) and the
// same image with its top layer changed (tag 2).
type pushSource struct {
	reg      *testutil.Registry
	v1, v2   testutil.Pushed
	img1     testutil.Image
	v1Bytes  int64 // blob bytes of v1
	newBytes int64 // bytes of v2's changed layer
}

func startPushSource(b *testing.B) *pushSource {
	b.Helper()
	s := &pushSource{reg: testutil.StartRegistry(b, testutil.WithDiskStorage())}
	s.img1 = testutil.BenchImage(b, 1)
	s.v1 = s.reg.Push(b, "bench/src:1", s.img1)
	img2 := testutil.BenchImage(b, 1)
	// A new top layer: a 1 MiB "application" where the bench image has a
	// whiteout and a symlink.
	app := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{'h', 'u', 'l', 'l'}).Read(app)
	img2.Layers[len(img2.Layers)-1] = testutil.Layer{
		Files:       []testutil.File{{Name: "app/", Type: '5'}, {Name: "app/server", Body: app, Mode: 0o755}},
		Compression: testutil.Gzip,
	}
	s.v2 = s.reg.Push(b, "bench/src:2", img2)
	s.v1Bytes = blobBytes(b, s.reg, "bench/src", s.v1)
	last := s.v2.LayerDigests[len(s.v2.LayerDigests)-1]
	desc, err := s.reg.Repository(b, "bench/src").Blobs().Resolve(context.Background(), last.String())
	if err != nil {
		b.Fatal(err)
	}
	s.newBytes = desc.Size
	return s
}

// blobBytes is the size of the image's layer blobs in repo.
func blobBytes(b *testing.B, reg *testutil.Registry, repo string, p testutil.Pushed) int64 {
	b.Helper()
	r := reg.Repository(b, repo)
	var total int64
	for _, d := range p.LayerDigests {
		desc, err := r.Blobs().Resolve(context.Background(), d.String())
		if err != nil {
			b.Fatal(err)
		}
		total += desc.Size
	}
	return total
}

// hullRoot opens a runtime on a fresh root holding the pulled image ref.
func hullRoot(b *testing.B, ref string) *hull.Runtime {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root: pulling unpacks layers")
	}
	root := freshDir(b)
	b.Cleanup(func() { os.RemoveAll(root) })
	rt, err := hull.Open(context.Background(), hull.WithRoot(root))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Close() })
	if _, err := rt.Pull(context.Background(), ref); err != nil {
		b.Fatal(err)
	}
	return rt
}

// skopeoLayout copies ref into an OCI layout once, for skopeo to push from.
func skopeoLayout(b *testing.B, ref, tag string) string {
	b.Helper()
	dir := freshDir(b)
	b.Cleanup(func() { os.RemoveAll(dir) })
	layout := filepath.Join(dir, "layout")
	run(b, "skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://"+ref, "oci:"+layout+":"+tag)
	return layout + ":" + tag
}

// BenchmarkPush pushes the ~100 MB, 5-layer bench image to an empty
// repository of an empty loopback registry (disk storage), with hull (from
// a root it was pulled into) and with each peer present: skopeo copy from
// an OCI layout, and docker push when a docker daemon answers.
func BenchmarkPush(b *testing.B) {
	src := startPushSource(b)
	ctx := context.Background()

	b.Run("hull", func(b *testing.B) {
		rt := hullRoot(b, src.v1.Ref)
		b.SetBytes(src.v1Bytes)
		i := 0
		for b.Loop() {
			b.StopTimer()
			i++
			dst := testutil.StartRegistry(b, testutil.WithDiskStorage())
			target := fmt.Sprintf("%s/bench/push-%d:1", dst.Host, i)
			if err := rt.Tag(ctx, src.v1.Ref, target); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := rt.Push(ctx, target); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("skopeo", func(b *testing.B) {
		need(b, "skopeo")
		layout := skopeoLayout(b, src.v1.Ref, "bench")
		b.SetBytes(src.v1Bytes)
		i := 0
		for b.Loop() {
			b.StopTimer()
			i++
			dst := testutil.StartRegistry(b, testutil.WithDiskStorage())
			target := fmt.Sprintf("%s/bench/push-%d:1", dst.Host, i)
			b.StartTimer()
			run(b, "skopeo", "copy", "--quiet", "--dest-tls-verify=false", "oci:"+layout, "docker://"+target)
		}
	})
	b.Run("docker", func(b *testing.B) {
		needDocker(b)
		run(b, "docker", "pull", "--quiet", src.v1.Ref)
		b.SetBytes(src.v1Bytes)
		i := 0
		for b.Loop() {
			b.StopTimer()
			i++
			dst := testutil.StartRegistry(b, testutil.WithDiskStorage())
			target := fmt.Sprintf("%s/bench/push-%d:1", dst.Host, i)
			run(b, "docker", "tag", src.v1.Ref, target)
			b.StartTimer()
			run(b, "docker", "push", "--quiet", target)
			b.StopTimer()
			exec.Command("docker", "rmi", target).Run()
			b.StartTimer()
		}
	})
}

// BenchmarkRepush pushes the bench image with its top layer changed (a new
// 1 MiB layer) to a repository holding the original: only that layer and
// the config have to go.
func BenchmarkRepush(b *testing.B) {
	src := startPushSource(b)
	ctx := context.Background()
	// prepare starts a registry holding v1 as bench/app:1 and returns the
	// reference to push v2 to.
	prepare := func(b *testing.B) string {
		dst := testutil.StartRegistry(b, testutil.WithDiskStorage())
		return dst.Push(b, "bench/app:1", src.img1).Ref
	}

	b.Run("hull", func(b *testing.B) {
		rt := hullRoot(b, src.v2.Ref)
		b.SetBytes(src.newBytes)
		for b.Loop() {
			b.StopTimer()
			target := prepare(b)
			if err := rt.Tag(ctx, src.v2.Ref, target); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := rt.Push(ctx, target); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("skopeo", func(b *testing.B) {
		need(b, "skopeo")
		layout := skopeoLayout(b, src.v2.Ref, "v2")
		b.SetBytes(src.newBytes)
		for b.Loop() {
			b.StopTimer()
			target := prepare(b)
			b.StartTimer()
			run(b, "skopeo", "copy", "--quiet", "--dest-tls-verify=false", "oci:"+layout, "docker://"+target)
		}
	})
}
