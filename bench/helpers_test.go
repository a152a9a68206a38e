//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// busyboxRef is the name of the busybox image in every container
// benchmark, in hull and in the peers alike.
const busyboxRef = "busybox:bench"

// freshDir returns an empty directory that the caller removes.
func freshDir(b testing.TB) string {
	b.Helper()
	dir, err := os.MkdirTemp("", "hull-bench-")
	if err != nil {
		b.Fatal(err)
	}
	return dir
}

// need skips the benchmark unless every tool is installed.
func need(b testing.TB, tools ...string) {
	b.Helper()
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			b.Skipf("%s not installed (apt-get install %s)", t, t)
		}
	}
}

// needRoot skips the benchmark unless it runs as root.
func needRoot(b testing.TB) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root: containers need namespaces, mounts and cgroups")
	}
}

// run runs a peer's command, failing the benchmark with its output.
func run(b testing.TB, name string, args ...string) {
	b.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// output runs a peer's command and returns its trimmed standard output,
// failing the benchmark with its error output.
func output(b testing.TB, name string, args ...string) string {
	b.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, stderr.Bytes())
	}
	return string(bytes.TrimSpace(out))
}

// sinkSource is bin/sink of the bench's busybox image: a TCP server on
// port 80 that reads each connection to its end, discards what it read
// and answers with the byte count.
const sinkSource = `package main

import (
	"fmt"
	"io"
	"net"
)

func main() {
	l, err := net.Listen("tcp", ":80")
	if err != nil {
		panic(err)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			panic(err)
		}
		go func() {
			defer c.Close()
			n, _ := io.Copy(io.Discard, c)
			fmt.Fprintf(c, "%d\n", n)
		}()
	}
}
`

var busybox struct {
	sync.Mutex
	tarball []byte
}

// busyboxTar is the root filesystem of the bench's busybox image
// (testutil.BusyboxFiles, plus bin/sink compiled from sinkSource) as a tar
// stream, made once. It skips the benchmark unless it runs as root with
// busybox-static and go installed.
func busyboxTar(b testing.TB) []byte {
	b.Helper()
	needRoot(b)
	need(b, "go")
	busybox.Lock()
	defer busybox.Unlock()
	if busybox.tarball != nil {
		return busybox.tarball
	}
	files := testutil.BusyboxFiles(b)
	dir := freshDir(b)
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "sink.go")
	if err := os.WriteFile(src, []byte(sinkSource), 0o644); err != nil {
		b.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "sink"), src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build sink: %v\n%s", err, out)
	}
	sink, err := os.ReadFile(filepath.Join(dir, "sink"))
	if err != nil {
		b.Fatal(err)
	}
	files = append(files, testutil.File{Name: "bin/sink", Mode: 0o755, Body: sink})
	busybox.tarball = testutil.TarBytes(b, files)
	return busybox.tarball
}

// hullBusybox opens a runtime on a fresh root holding busyboxRef
// imported from tarball; the root is closed and removed after b.
func hullBusybox(b testing.TB, tarball []byte) *hull.Runtime {
	b.Helper()
	ctx := context.Background()
	root := freshDir(b)
	b.Cleanup(func() { os.RemoveAll(root) })
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Close() })
	cfg := ocispec.ImageConfig{Env: []string{testutil.DefaultPath}}
	if _, err := rt.Import(ctx, bytes.NewReader(tarball), busyboxRef, hull.WithImportConfig(cfg)); err != nil {
		b.Fatal(err)
	}
	return rt
}

// ociBundle makes a runtime bundle of the busybox rootfs whose process
// runs args, with the peer's default spec otherwise; it is removed after
// b. The peer's state goes to the bundle's "state" directory.
func ociBundle(b testing.TB, peer string, tarball []byte, args ...string) string {
	b.Helper()
	bundle := freshDir(b)
	b.Cleanup(func() { os.RemoveAll(bundle) })
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
	proc["args"] = args
	proc["terminal"] = false
	if data, err = json.Marshal(spec); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return bundle
}

// imageBytes is the total size of the image's layer blobs in repo.
func imageBytes(b testing.TB, reg *testutil.Registry, repo string, p testutil.Pushed) int64 {
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

var hullBin struct {
	sync.Mutex
	path string
}

// hullCLI builds the hull command (cmd/hull) once per run and returns its
// path; it is removed with the peers' directory.
func hullCLI(b testing.TB) string {
	b.Helper()
	need(b, "go")
	hullBin.Lock()
	defer hullBin.Unlock()
	if hullBin.path != "" {
		return hullBin.path
	}
	peers.Lock()
	path := filepath.Join(peerDir(b), "hull")
	peers.Unlock()
	if out, err := exec.Command("go", "build", "-o", path, "github.com/hullbox/hull/cmd/hull").CombinedOutput(); err != nil {
		b.Fatalf("build cmd/hull: %v\n%s", err, out)
	}
	hullBin.path = path
	return path
}
