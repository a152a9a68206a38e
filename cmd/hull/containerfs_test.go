package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestContainerFSCommands(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	root := t.TempDir()
	ctx := t.Context()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	files := testutil.BusyboxFiles(t)
	cfg := ocispec.ImageConfig{Env: []string{testutil.DefaultPath}, Cmd: []string{"sh"}}
	if _, err := rt.Import(ctx, bytes.NewReader(testutil.TarBytes(t, files)), "busybox:test", hull.WithImportConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	c, err := rt.Run(ctx, "busybox:test", hull.WithName("fsc"), hull.WithCmd("sh", "-c", "echo hi > /hello && rm /etc/group"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(ctx)
	if _, err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	if out := mustHull(t, root, nil, "diff", "fsc").stdout; out != "C /etc\nD /etc/group\nA /hello\n" {
		t.Errorf("diff: %q", out)
	}
	exp := mustHull(t, root, nil, "export", "fsc").stdout
	names := map[string]bool{}
	tr := tar.NewReader(strings.NewReader(exp))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[hdr.Name] = true
	}
	if !names["hello"] || names["etc/group"] || !names["bin/busybox"] {
		t.Errorf("export: hello %v, etc/group %v", names["hello"], names["etc/group"])
	}

	// cp both ways, through the host.
	dst := t.TempDir()
	mustHull(t, root, nil, "cp", "fsc:/hello", dst)
	if b, _ := os.ReadFile(filepath.Join(dst, "hello")); string(b) != "hi\n" {
		t.Errorf("cp from: %q", b)
	}
	src := filepath.Join(t.TempDir(), "up")
	if err := os.WriteFile(src, []byte("up\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustHull(t, root, nil, "cp", src, "fsc:/etc")
	if out := mustHull(t, root, nil, "cp", "fsc:/etc/up", "-").stdout; !strings.Contains(out, "up\n") {
		t.Errorf("cp to, then from: %q", out)
	}

	id := strings.TrimSpace(mustHull(t, root, nil, "commit", "-c", "CMD cat /hello /etc/up", "-c", "ENV X=1", "-m", "msg", "fsc", "fsc:snap").stdout)
	img, err := rt.Image(ctx, "fsc:snap")
	if err != nil || img.ID() != id {
		t.Fatalf("commit printed %q; image %v %v", id, img, err)
	}
	if got := img.Config().Cmd; len(got) != 3 || got[2] != "cat /hello /etc/up" {
		t.Errorf("committed Cmd %q", got)
	}
	if r := hullCmd(t, root, nil, "commit", "-c", "VOLUME /x", "fsc"); r.code != 125 {
		t.Errorf("commit with VOLUME: %+v", r)
	}
}
