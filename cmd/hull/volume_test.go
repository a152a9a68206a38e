package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVolumeCLI(t *testing.T) {
	root := busyboxRoot(t)
	t.Parallel()
	if r := mustHull(t, root, nil, "volume", "create", "--label", "k=v", "data"); r.stdout != "data\n" {
		t.Errorf("volume create: %+v", r)
	}
	mustHull(t, root, nil, "run", "--rm", "-v", "data:/d", "busybox:test", "sh", "-c", "echo hi > /d/f; chown 7:8 /d/f; chmod 640 /d/f")
	if r := mustHull(t, root, nil, "volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Labels.k}}", "data"); r.stdout != "data local v\n" {
		t.Errorf("volume inspect: %+v", r)
	}

	// export -o / import -i, then export to stdout / import from stdin.
	file := filepath.Join(t.TempDir(), "data.tar")
	mustHull(t, root, nil, "volume", "export", "data", "-o", file)
	if r := mustHull(t, root, nil, "volume", "import", "copy", "-i", file); r.stdout != "copy\n" {
		t.Errorf("volume import -i: %+v", r)
	}
	tarball := mustHull(t, root, nil, "volume", "export", "copy").stdout
	if want, _ := os.ReadFile(file); !bytes.Equal([]byte(tarball), want) {
		t.Errorf("export of the import differs: %d vs %d bytes", len(tarball), len(want))
	}
	mustHull(t, root, []byte(tarball), "volume", "import", "copy2")
	if r := hullCmd(t, root, nil, "run", "--rm", "-v", "copy2:/d:ro", "busybox:test", "sh", "-c", "cat /d/f; stat -c '%u:%g %a' /d/f; touch /d/x"); r.stdout != "hi\n7:8 640\n" || !strings.Contains(r.stderr, "Read-only") {
		t.Errorf("read the imported volume: %+v", r)
	}
	if r := hullCmd(t, root, []byte("not a tar"), "volume", "import", "bad"); r.code == 0 {
		t.Errorf("import of garbage: %+v", r)
	}
	// run --rm takes its anonymous volume with it, as docker's does,
	// and keeps the named one.
	mustHull(t, root, nil, "run", "--rm", "-v", "/anon", "-v", "data:/d", "busybox:test", "touch", "/anon/x")
	if r := mustHull(t, root, nil, "volume", "ls", "-q"); r.stdout != "copy\ncopy2\ndata\n" {
		t.Errorf("volume ls -q: %q", r.stdout)
	}

	// In use by a container: rm fails; anonymous volumes: -v /path, prune.
	mustHull(t, root, nil, "create", "--name", "user", "-v", "data:/d", "-v", "/anon", "busybox:test")
	if r := hullCmd(t, root, nil, "volume", "rm", "data"); r.code != 1 || !strings.Contains(r.stderr, "in use") {
		t.Errorf("volume rm in use: %+v", r)
	}
	anon := strings.TrimSpace(mustHull(t, root, nil, "inspect", "-f", `{{range .Mounts}}{{if .Anonymous}}{{.Name}}{{end}}{{end}}`, "user").stdout)
	if len(anon) != 64 {
		t.Fatalf("anonymous volume name %q", anon)
	}
	mustHull(t, root, nil, "rm", "user")
	if r := mustHull(t, root, nil, "volume", "prune", "-f"); !strings.Contains(r.stdout, anon) {
		t.Errorf("volume prune: %q", r.stdout)
	}
	if r := mustHull(t, root, nil, "volume", "rm", "data", "copy"); r.stdout != "data\ncopy\n" {
		t.Errorf("volume rm: %+v", r)
	}
	if r := mustHull(t, root, nil, "volume", "prune", "-a", "-f"); !strings.Contains(r.stdout, "copy2") {
		t.Errorf("volume prune -a: %q", r.stdout)
	}
	if r := mustHull(t, root, nil, "volume", "ls", "-q"); r.stdout != "" {
		t.Errorf("volumes left: %q", r.stdout)
	}
}

func TestMountFlags(t *testing.T) {
	root := busyboxRoot(t)
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "cat /b/in; grep -o ' /t tmpfs [^ ]*' /proc/mounts; grep -o ' /m tmpfs [^ ]*' /proc/mounts; touch /b/x"
	r := hullCmd(t, root, nil, "run", "--rm", "--mount", "type=bind,source="+dir+",target=/b,readonly",
		"--tmpfs", "/t:size=1m", "--mount", "type=tmpfs,target=/m,tmpfs-size=2m", "busybox:test", "sh", "-c", script)
	if !strings.HasPrefix(r.stdout, "host /t tmpfs rw,") || !strings.Contains(r.stdout, "size=1024k") ||
		!strings.Contains(r.stdout, "size=2048k") || !strings.Contains(r.stderr, "Read-only") {
		t.Errorf("run with mounts: %+v", r)
	}
	// -v with a host path that does not exist creates it, as docker.
	made := filepath.Join(dir, "made")
	mustHull(t, root, nil, "run", "--rm", "-v", made+":/w", "busybox:test", "touch", "/w/f")
	if _, err := os.Stat(filepath.Join(made, "f")); err != nil {
		t.Errorf("-v host dir: %v", err)
	}
	for _, bad := range [][]string{
		{"-v", "a:b:c:d"}, {"-v", "data:/d:bogus"}, {"-v", "/h:/d:nocopy"}, {"-v", "x:/d"},
		{"--mount", "type=bind,target=/x"}, {"--mount", "source=v"}, {"--mount", "type=nfs,target=/x"},
		{"--mount", "type=bind,source=/nonexistent-hull-dir,target=/x"}, {"--mount", "type=volume,target=/x,bind-propagation=rslave"},
	} {
		args := append([]string{"run", "--rm"}, bad...)
		if r := hullCmd(t, root, nil, append(args, "busybox:test", "true")...); r.code != 125 {
			t.Errorf("%q: %+v, want exit 125", bad, r)
		}
	}
}
