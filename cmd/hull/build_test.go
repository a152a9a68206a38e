package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestBuildCommand: hull build prints Docker's legacy lines, then "Using
// cache" for an unchanged rebuild; -q prints only the ID; -f - reads the
// Dockerfile from stdin; a broken Dockerfile fails naming its line.
func TestBuildCommand(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	root := t.TempDir()
	rt, err := hull.Open(t.Context(), hull.WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	cfg := ocispec.ImageConfig{Env: []string{testutil.DefaultPath}, Cmd: []string{"sh"}}
	_, err = rt.Import(t.Context(), bytes.NewReader(testutil.TarBytes(t, testutil.BusyboxFiles(t))), "busybox:test", hull.WithImportConfig(cfg))
	rt.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox:test\nCOPY f /f\nRUN echo printed-by-run\nCMD [\"sh\"]\n"), 0o644)

	out := mustHull(t, root, nil, "build", "-t", "cli:1", dir).stdout
	for _, want := range []string{"Step 1/4 : FROM busybox:test\n", "Step 3/4 : RUN echo printed-by-run\nprinted-by-run\n ---> ", "Successfully built ", "Successfully tagged cli:1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}
	again := mustHull(t, root, nil, "build", dir).stdout
	if strings.Count(again, " ---> Using cache") != 2 || strings.Contains(again, "printed-by-run\nprinted-by-run") {
		t.Errorf("rebuild:\n%s", again)
	}
	id := mustHull(t, root, nil, "build", "-q", dir).stdout
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`).MatchString(id) {
		t.Errorf("build -q printed %q", id)
	}
	stdin := mustHull(t, root, []byte("FROM busybox:test\nLABEL from=stdin\n"), "build", "-q", "-f", "-", dir).stdout
	if stdin == id || !strings.HasPrefix(stdin, "sha256:") {
		t.Errorf("build -f - printed %q", stdin)
	}
	bad := hullCmd(t, root, []byte("FROM busybox:test\nBOGUS x\n"), "build", "-f", "-", dir)
	if bad.code == 0 || !strings.Contains(bad.stderr, "Dockerfile:2:") {
		t.Errorf("a broken Dockerfile: exit %d, %q", bad.code, bad.stderr)
	}
}
