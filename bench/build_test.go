//go:build linux

package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hullbox/hull"
)

// buildDockerfile is the benchmark's 10-step Dockerfile after its FROM:
// 5 RUN, 3 COPY, ENV and CMD.
const buildDockerfile = `FROM ` + busyboxRef + `
ENV APP=/app
COPY a.txt /app/a.txt
RUN echo 1 > /r1
COPY b.txt /app/b.txt
RUN echo 2 > /r2
COPY dir/ /app/dir/
RUN echo 3 > /r3
RUN ls -R /app > /r4
RUN cat /app/a.txt /r1 /r2 /r3 > /r5
CMD ["cat", "/r5"]
`

// buildContext writes the benchmark's context: the Dockerfile, two files
// and a directory of 20 small files.
func buildContext(b *testing.B) string {
	b.Helper()
	dir := freshDir(b)
	b.Cleanup(func() { os.RemoveAll(dir) })
	files := map[string]string{"Dockerfile": buildDockerfile, "a.txt": "a\n", "b.txt": "b\n"}
	for i := range 20 {
		files[filepath.Join("dir", "f"+string(rune('a'+i)))] = "content " + string(rune('a'+i)) + "\n"
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkBuildCold builds a 10-step Dockerfile (5 RUN, 3 COPY, ENV and
// CMD on busybox; RUN steps without network) with every step run
// (WithNoCache, `--no-cache`): hull's library, `docker build` (the legacy
// builder, DOCKER_BUILDKIT=0: the docker CLI here has no buildx) and
// `buildah bud --layers` when installed. The base image is stored.
func BenchmarkBuildCold(b *testing.B) {
	benchBuild(b, []hull.BuildOption{hull.WithNoCache()}, "--no-cache")
}

// BenchmarkBuildRebuild is BenchmarkBuildCold's build again with nothing
// changed: every step comes from the cache. runc-true is one `runc run`
// of /bin/true in the same run, the yardstick of issue 17's target.
func BenchmarkBuildRebuild(b *testing.B) {
	benchBuild(b, nil)
	b.Run("runc-true", func(b *testing.B) {
		need(b, "runc")
		tarball := busyboxTar(b)
		bundle := ociBundle(b, "runc", tarball, "/bin/true")
		state := filepath.Join(bundle, "state")
		i := 0
		for b.Loop() {
			i++
			run(b, "runc", "--root", state, "run", "--bundle", bundle, "hull-build-bench-"+strconv.Itoa(i))
		}
	})
}

func benchBuild(b *testing.B, opts []hull.BuildOption, peerArgs ...string) {
	tarball := busyboxTar(b)
	ctx := context.Background()
	b.Run("hull", func(b *testing.B) {
		needRoot(b)
		rt := hullBusybox(b, tarball)
		dir := buildContext(b)
		if _, err := rt.Build(ctx, dir); err != nil { // warm: the cache, the init pool
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := rt.Build(ctx, dir, opts...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("docker", func(b *testing.B) {
		needDocker(b)
		dockerBusybox(b, tarball)
		dir := buildContext(b)
		build := func(extra ...string) {
			cmd := exec.Command("docker", append(append([]string{"build", "-q", "--network", "none"}, extra...), dir)...)
			cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("docker build: %v\n%s", err, out)
			}
		}
		build()
		for b.Loop() {
			build(peerArgs...)
		}
	})
	b.Run("buildah", func(b *testing.B) {
		needPeer(b, "buildah")
		dir := buildContext(b)
		root := freshDir(b)
		b.Cleanup(func() { os.RemoveAll(root) })
		store := []string{"--root", filepath.Join(root, "root"), "--runroot", filepath.Join(root, "run")}
		run(b, "buildah", append(store, "pull", "docker-archive:"+savedBusybox(b, tarball))...)
		bud := func(extra ...string) {
			run(b, "buildah", append(append(append(store, "bud", "-q", "--network", "none", "--layers"), extra...), dir)...)
		}
		bud()
		for b.Loop() {
			bud(peerArgs...)
		}
	})
}
