package hulltest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/hulltest"
)

// TestSharedRootChild is the child of TestSharedRoot: three parallel
// subtests make the same image and each runs a container of it.
func TestSharedRootChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("the child of TestSharedRoot")
	}
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			ref := hulltest.Image(t, hulltest.WithBusybox(), hulltest.WithFile("/shared", []byte("x"), 0o644))
			c := hulltest.Run(t, ref, hull.WithCmd("sleep", "60"))
			if out := hulltest.Exec(t, c, "cat", "/shared"); out != "x" {
				t.Errorf("cat: %q", out)
			}
		})
	}
}

// TestSharedRoot: two test binaries at once, with three parallel tests
// each, on one fresh root (as the packages of one `go test ./...` are)
// all pass; they share one image, and leave no container.
func TestSharedRoot(t *testing.T) {
	t.Parallel()
	hulltest.Require(t)
	root := tempRoot(t)
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSharedRootChild$", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"=1", hulltest.RootEnv+"="+root)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil || strings.Count(outs[i].String(), "--- PASS: TestSharedRootChild/") != 3 {
			t.Errorf("child %d: %v\n%s", i, err, outs[i])
		}
	}
	ctx := context.Background()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	imgs, err := rt.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 {
		var tags [][]string
		for _, img := range imgs {
			tags = append(tags, img.RepoTags())
		}
		t.Errorf("images in the root: %v, want one", tags)
	}
	cs, err := rt.Containers(ctx, hull.WithAllContainers())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 0 {
		t.Errorf("%d containers left", len(cs))
	}
}

// tempRoot returns a fresh state root for one test, removed when it ends.
// It is made next to the shared root rather than under the temp dir: the
// root package's TestMain, which may run at the same time, counts the
// mounts under the temp dir as its own.
func tempRoot(t *testing.T) string {
	t.Helper()
	parent := filepath.Dir(hulltest.Root())
	if err := os.MkdirAll(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(parent, "hulltest-root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
