package hulltest_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hullbox/hull/hulltest"
)

// TestFreshModule is issue 18's "a fresh module outside the repo,
// following only the README, gets a hulltest-based test green": it makes
// a module in a temp dir with the README's two files (testdata/fresh: a
// server and its test), requires hull (replaced by this checkout, as `go
// get` would fetch it) and runs `go test` in it, offline: GOPROXY=off, the
// module cache and this repo's go.sum supplying what hull needs. It skips
// where that cache lacks a module.
func TestFreshModule(t *testing.T) {
	t.Parallel()
	hulltest.Require(t)
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go .*$`).Find(gomod)
	dir := t.TempDir()
	mod := "module example.com/fresh\n\n" + string(goLine) + "\n\n" +
		"require github.com/hullbox/hull v0.0.0-00010101000000-000000000000\n\n" +
		"replace github.com/hullbox/hull => " + repo + "\n"
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", []byte(mod))
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write("go.sum", sum)
	for _, f := range []string{"server_test.go", "server/main.go"} {
		data, err := os.ReadFile(filepath.Join("testdata", "fresh", f))
		if err != nil {
			t.Fatal(err)
		}
		write(f, data)
	}

	cmd := exec.CommandContext(t.Context(), goCmd, "test", "-count=1", "-v", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("GOPROXY=off")) || bytes.Contains(out, []byte("cannot find module")) {
			t.Skipf("the module cache cannot resolve hull's dependencies offline:\n%s", out)
		}
		t.Fatalf("go test in a fresh module: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestServer") || !strings.Contains(string(out), "ok  \texample.com/fresh") {
		t.Errorf("go test in a fresh module:\n%s", out)
	}
	t.Logf("%s", out)
}
