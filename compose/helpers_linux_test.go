package compose_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/compose"
	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// appRef is the test image: busybox with bin/app (testdata/app).
const appRef = "app:test"

var appTar struct {
	sync.Mutex
	b []byte
}

// appImageTar is the root filesystem of appRef as a tar, built once: it
// skips the test unless it runs as root with go and a static busybox.
func appImageTar(t testing.TB) []byte {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: containers need namespaces, mounts and cgroups")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not installed: the test compiles its application")
	}
	appTar.Lock()
	defer appTar.Unlock()
	if appTar.b != nil {
		return appTar.b
	}
	files := testutil.BusyboxFiles(t)
	bin := filepath.Join(t.TempDir(), "app")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = "testdata/app"
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build testdata/app: %v\n%s", err, out)
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, testutil.File{Name: "bin/app", Mode: 0o755, Body: body},
		testutil.File{Name: "data/", Type: '5', Mode: 0o755})
	appTar.b = testutil.TarBytes(t, files)
	return appTar.b
}

// openRuntime opens a Runtime on a fresh root holding appRef, closed when
// the test ends.
func openRuntime(t testing.TB) *hull.Runtime {
	t.Helper()
	tarball := appImageTar(t)
	rt, err := hull.Open(t.Context(), hull.WithRoot(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	cfg := ocispec.ImageConfig{Env: []string{testutil.DefaultPath}}
	if _, err := rt.Import(t.Context(), bytes.NewReader(tarball), appRef, hull.WithImportConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	return rt
}

// writeProject writes a compose file (and others: name -> content) into a
// fresh directory and loads it as project name.
func writeProject(t testing.TB, name string, files map[string]string) (*compose.Project, string) {
	t.Helper()
	dir := t.TempDir()
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := compose.Load(context.Background(), compose.WithWorkingDir(dir),
		compose.WithFiles(filepath.Join(dir, "compose.yaml")), compose.WithProjectName(name),
		compose.WithEnvironment())
	if err != nil {
		t.Fatal(err)
	}
	return p, dir
}

// down takes p down with its volumes when the test ends.
func down(t testing.TB, rt *hull.Runtime, p *compose.Project) {
	t.Cleanup(func() {
		if err := p.Down(context.Background(), rt, compose.WithRemoveVolumes(), compose.WithRemoveOrphans()); err != nil {
			t.Errorf("down: %v", err)
		}
	})
}
