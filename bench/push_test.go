//go:build linux

package bench

import (
	"context"
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
	s.v1Bytes = imageBytes(b, s.reg, "bench/src", s.v1)
	last := s.v2.LayerDigests[len(s.v2.LayerDigests)-1]
	desc, err := s.reg.Repository(b, "bench/src").Blobs().Resolve(context.Background(), last.String())
	if err != nil {
		b.Fatal(err)
	}
	s.newBytes = desc.Size
	return s
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

// pusher pushes one source image to the target reference it is given.
// prepare and cleanup, when set, run outside the timer around push.
type pusher struct {
	prepare, push, cleanup func(target string)
}

// pushers are the implementations a push benchmark compares: each sets
// itself up to push the image src (a reference in the source registry),
// skipping b when it is not installed.
var pushers = []struct {
	name  string
	setup func(b *testing.B, src string) pusher
}{
	{"hull", func(b *testing.B, src string) pusher {
		rt := hullRoot(b, src)
		ctx := context.Background()
		return pusher{
			prepare: func(target string) {
				if err := rt.Tag(ctx, src, target); err != nil {
					b.Fatal(err)
				}
			},
			push: func(target string) {
				if err := rt.Push(ctx, target); err != nil {
					b.Fatal(err)
				}
			},
		}
	}},
	{"skopeo", func(b *testing.B, src string) pusher {
		need(b, "skopeo")
		layout := skopeoLayout(b, src, "bench")
		return pusher{push: func(target string) {
			run(b, "skopeo", "copy", "--quiet", "--dest-tls-verify=false", "oci:"+layout, "docker://"+target)
		}}
	}},
	{"docker", func(b *testing.B, src string) pusher {
		needDocker(b)
		run(b, "docker", "pull", "--quiet", src)
		b.Cleanup(func() { exec.Command("docker", "rmi", "-f", src).Run() })
		return pusher{
			prepare: func(target string) { run(b, "docker", "tag", src, target) },
			push:    func(target string) { run(b, "docker", "push", "--quiet", target) },
			cleanup: func(target string) { exec.Command("docker", "rmi", target).Run() },
		}
	}},
}

// benchPushes runs one sub-benchmark per pusher: each iteration pushes
// src to the reference newTarget returns (called outside the timer),
// counting size bytes.
func benchPushes(b *testing.B, src string, size int64, newTarget func(b *testing.B) string) {
	for _, impl := range pushers {
		b.Run(impl.name, func(b *testing.B) {
			p := impl.setup(b, src)
			b.SetBytes(size)
			for b.Loop() {
				b.StopTimer()
				target := newTarget(b)
				if p.prepare != nil {
					p.prepare(target)
				}
				b.StartTimer()
				p.push(target)
				if p.cleanup != nil {
					b.StopTimer()
					p.cleanup(target)
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkPush pushes the ~100 MB, 5-layer bench image to an empty
// repository of an empty loopback registry (disk storage), with hull (from
// a root it was pulled into) and with each peer present: skopeo copy from
// an OCI layout, and docker push (from a private daemon, see needDocker).
func BenchmarkPush(b *testing.B) {
	src := startPushSource(b)
	benchPushes(b, src.v1.Ref, src.v1Bytes, func(b *testing.B) string {
		dst := testutil.StartRegistry(b, testutil.WithDiskStorage())
		return dst.Host + "/bench/push:1"
	})
}

// BenchmarkRepush pushes the bench image with its top layer changed (a new
// 1 MiB layer) to a repository holding the original: only that layer and
// the config have to go.
func BenchmarkRepush(b *testing.B) {
	src := startPushSource(b)
	benchPushes(b, src.v2.Ref, src.newBytes, func(b *testing.B) string {
		dst := testutil.StartRegistry(b, testutil.WithDiskStorage())
		return dst.Push(b, "bench/app:1", src.img1).Ref
	})
}
