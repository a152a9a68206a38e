package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/internal/testutil"
)

// hullBin is the hull binary built once by TestMain; dockerConfig is the
// $DOCKER_CONFIG it runs with.
var hullBin, dockerConfig string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hull-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hullBin = filepath.Join(dir, "hull")
	// Registry credentials: never the user's ~/.docker, unless --config says.
	dockerConfig = filepath.Join(dir, "docker")
	// hull, and next to it hull-compose, which serves `hull compose`
	// (compose_plugin.go).
	for _, args := range [][]string{{"-o", hullBin}, {"-tags", "hullcompose", "-o", filepath.Join(dir, "hull-compose")}} {
		build := exec.Command("go", append(append([]string{"build"}, args...), ".")...)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building hull:", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireRoot skips tests that unpack layers: the unpacker sets owners,
// device nodes and trusted xattrs, which need root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: unpacking layers sets owners and trusted.* xattrs")
	}
}

type result struct {
	stdout, stderr string
	code           int
}

// hullCmd runs the hull binary on root with args, stdin as its input.
func hullCmd(t *testing.T, root string, stdin []byte, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), hullBin, append([]string{"--root", root}, args...)...)
	cmd.Env = append(os.Environ(), "HULL_ROOT=/nonexistent-hull-root-from-env", "DOCKER_CONFIG="+dockerConfig)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("hull %v: %v", args, err)
	}
	return r
}

// mustHull runs hull and fails the test unless it exits 0.
func mustHull(t *testing.T, root string, stdin []byte, args ...string) result {
	t.Helper()
	r := hullCmd(t, root, stdin, args...)
	if r.code != 0 {
		t.Fatalf("hull %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// rootfsTar makes a small root filesystem tar; seed varies its content.
func rootfsTar(t *testing.T, seed string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		body string
		dir  bool
	}{
		{name: "bin/", dir: true},
		{name: "etc/", dir: true},
		{name: "etc/hostname", body: "hull-test\n"},
		{name: "etc/seed", body: seed},
		{name: "bin/data", body: strings.Repeat("hull layer data ", 4096)},
	}
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(f.body))}
		if f.dir {
			hdr.Mode, hdr.Typeflag, hdr.Size = 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var idLine = regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`)

// TestImageLifecycle walks an image through import, images, inspect, tag,
// rmi and prune.
func TestImageLifecycle(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	root := t.TempDir()
	tarPath := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(tarPath, rootfsTar(t, "one"), 0o644); err != nil {
		t.Fatal(err)
	}

	imp := mustHull(t, root, nil, "import",
		"-c", `CMD ["sh", "-c", "echo hi"]`, "--change", "ENTRYPOINT /bin/init",
		"-c", `ENV A=1 B="two words"`, "-c", "WORKDIR /app", "-c", "USER 1000:1000",
		"-c", "LABEL org.example=yes", "-c", "EXPOSE 8080 53/udp", "-c", "STOPSIGNAL SIGTERM",
		"-m", "imported by a test", tarPath, "test/app:1")
	if !idLine.MatchString(imp.stdout) {
		t.Fatalf("import printed %q, want an image ID", imp.stdout)
	}
	id := strings.TrimSpace(imp.stdout)
	short := strings.TrimPrefix(id, "sha256:")[:12]

	images := mustHull(t, root, nil, "images")
	if rows := tableRows(images.stdout); len(rows) != 1 || !slices.Equal(rows[0][:3], []string{"test/app", "1", short}) {
		t.Fatalf("images:\n%s", images.stdout)
	}
	if !strings.HasPrefix(images.stdout, "REPOSITORY") || !strings.Contains(images.stdout, "ago") {
		t.Errorf("images: no header or CREATED column:\n%s", images.stdout)
	}

	checkInspect(t, root, id)

	mustHull(t, root, nil, "tag", "test/app:1", "test/app:2")
	if rows := tableRows(mustHull(t, root, nil, "image", "ls").stdout); len(rows) != 2 {
		t.Fatalf("after tag, image ls has %d rows, want 2", len(rows))
	}
	if got := mustHull(t, root, nil, "images", "-q").stdout; got != short+"\n" {
		t.Errorf("images -q = %q, want the ID once", got)
	}

	rm := mustHull(t, root, nil, "rmi", "test/app:1")
	if rm.stdout != "Untagged: test/app:1\n" {
		t.Errorf("rmi of one of two tags printed %q", rm.stdout)
	}
	rm = mustHull(t, root, nil, "image", "rm", "test/app:2")
	if want := "Untagged: test/app:2\nDeleted: " + id + "\n"; rm.stdout != want {
		t.Errorf("rmi of the last tag printed %q, want %q", rm.stdout, want)
	}
	if got := mustHull(t, root, nil, "images", "-q").stdout; got != "" {
		t.Errorf("images -q after rmi = %q, want nothing", got)
	}
	checkPrune(t, root)
}

// checkInspect checks the JSON and --format forms of inspect.
func checkInspect(t *testing.T, root, id string) {
	t.Helper()
	out := mustHull(t, root, nil, "inspect", "test/app:1").stdout
	if !strings.HasPrefix(out, "[\n    {\n        \"Id\": ") {
		t.Errorf("inspect is not indented like docker:\n%s", out)
	}
	var got []hull.ImageInspect
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
		t.Fatalf("inspect output (%v):\n%s", err, out)
	}
	img := got[0]
	c := img.Config
	switch {
	case img.ID != id:
		t.Errorf("Id = %s, want %s", img.ID, id)
	case !slices.Equal(img.RepoTags, []string{"test/app:1"}):
		t.Errorf("RepoTags = %v", img.RepoTags)
	case img.RepoDigests == nil:
		t.Errorf("RepoDigests is null, want []")
	case len(img.RootFS.Layers) != 1:
		t.Errorf("RootFS.Layers = %v, want one layer", img.RootFS.Layers)
	case !slices.Equal(c.Cmd, []string{"sh", "-c", "echo hi"}):
		t.Errorf("Cmd = %q", c.Cmd)
	case !slices.Equal(c.Entrypoint, []string{"/bin/sh", "-c", "/bin/init"}):
		t.Errorf("Entrypoint = %q", c.Entrypoint)
	case !slices.Equal(c.Env, []string{"A=1", "B=two words"}):
		t.Errorf("Env = %q", c.Env)
	case c.WorkingDir != "/app" || c.User != "1000:1000" || c.StopSignal != "SIGTERM":
		t.Errorf("WorkingDir, User, StopSignal = %q, %q, %q", c.WorkingDir, c.User, c.StopSignal)
	case c.Labels["org.example"] != "yes" || len(c.ExposedPorts) != 2:
		t.Errorf("Labels = %v, ExposedPorts = %v", c.Labels, c.ExposedPorts)
	}

	f := mustHull(t, root, nil, "image", "inspect", "--format", "{{.Id}} {{json .Config.Cmd}} {{.Os}}", "test/app:1")
	if want := id + ` ["sh","-c","echo hi"] linux` + "\n"; f.stdout != want {
		t.Errorf("inspect --format = %q, want %q", f.stdout, want)
	}

	miss := hullCmd(t, root, nil, "inspect", "test/app:1", "no/such:image")
	if miss.code != 1 || !strings.Contains(miss.stderr, "Error: No such object: no/such:image") {
		t.Errorf("inspect of a missing image: exit %d, stderr %q", miss.code, miss.stderr)
	}
	if !strings.Contains(miss.stdout, `"Id": "`+id) {
		t.Errorf("inspect with one missing image did not print the found one:\n%s", miss.stdout)
	}
}

// checkPrune makes a dangling image (an import without a reference) that
// shares nothing with any other image, and prunes it.
func checkPrune(t *testing.T, root string) {
	t.Helper()
	dangling := strings.TrimSpace(mustHull(t, root, rootfsTar(t, "two"), "import", "-").stdout)
	rows := tableRows(mustHull(t, root, nil, "images").stdout)
	if len(rows) != 1 || rows[0][0] != "<none>" || rows[0][1] != "<none>" {
		t.Fatalf("an untagged import should list as <none> <none>: %v", rows)
	}
	if got := mustHull(t, root, nil, "images", "--no-trunc", "-q").stdout; got != dangling+"\n" {
		t.Errorf("images --no-trunc -q = %q, want %q", got, dangling)
	}
	// Without -f, prune asks; "n" keeps everything.
	no := mustHull(t, root, []byte("n\n"), "prune")
	if !strings.Contains(no.stdout, "Are you sure") || strings.Contains(no.stdout, "Total reclaimed") {
		t.Errorf("prune answered no printed %q", no.stdout)
	}
	p := mustHull(t, root, nil, "image", "prune", "-f").stdout
	if !strings.Contains(p, "Deleted Images:\ndeleted: "+dangling+"\n") {
		t.Errorf("prune did not list the dangling image:\n%s", p)
	}
	m := regexp.MustCompile(`Total reclaimed space: ([0-9.]+)(k?B|MB)\n`).FindStringSubmatch(p)
	if m == nil || m[1] == "0" {
		t.Errorf("prune reclaimed nothing:\n%s", p)
	}
	if got := mustHull(t, root, nil, "prune", "-f").stdout; got != "Total reclaimed space: 0B\n" {
		t.Errorf("second prune printed %q", got)
	}
}

// tableRows splits a table's rows (without the header) into columns.
func tableRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

// TestPull pulls from an in-process registry on 127.0.0.1 (no network).
func TestPull(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	reg := testutil.StartRegistry(t)
	pushed := reg.Push(t, "test/pull:1", testutil.Image{Layers: []testutil.Layer{
		{Files: []testutil.File{{Name: "etc/", Type: tar.TypeDir}, {Name: "etc/a", Body: []byte("a")}}, Compression: testutil.Gzip},
		// Incompressible and uncompressed: the library reports a download
		// every 512 KiB, so this layer gets several Downloading reports.
		{Files: []testutil.File{{Name: "big", Body: noise(2 << 20)}}},
	}})
	root := t.TempDir()
	ref := reg.Host + "/test/pull:1"

	r := mustHull(t, root, nil, "pull", ref)
	t.Logf("hull pull %s:\n%s", ref, r.stderr)
	if r.stdout != ref+"\n" {
		t.Errorf("pull stdout = %q, want the reference", r.stdout)
	}
	layer := pushed.LayerDigests[1].Encoded()[:12]
	for _, want := range []string{
		"1: Pulling from test/pull\n",
		layer + ": Pull complete\n",
		"Digest: " + pushed.ManifestDigest.String() + "\n",
		"Status: Downloaded newer image for " + ref + "\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("pull stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	// Not a terminal: a line per status change, not per byte update.
	if n := strings.Count(r.stderr, layer+": Downloading"); n != 1 {
		t.Errorf("%d Downloading lines for one layer, want 1:\n%s", n, r.stderr)
	}

	again := mustHull(t, root, nil, "pull", ref)
	if !strings.Contains(again.stderr, "Status: Image is up to date for "+ref) ||
		!strings.Contains(again.stderr, layer+": Already exists") {
		t.Errorf("second pull:\n%s", again.stderr)
	}
	q := mustHull(t, root, nil, "pull", "-q", ref)
	if q.stdout != ref+"\n" || q.stderr != "" {
		t.Errorf("pull -q: stdout %q, stderr %q", q.stdout, q.stderr)
	}
	rows := tableRows(mustHull(t, root, nil, "images", "--digests").stdout)
	if len(rows) != 1 || rows[0][2] != pushed.ManifestDigest.String() {
		t.Errorf("images --digests: %v", rows)
	}

	missing := hullCmd(t, root, nil, "pull", reg.Host+"/test/absent:1")
	if missing.code != 1 || !strings.Contains(missing.stderr, "test/absent") {
		t.Errorf("pull of a missing image: exit %d, stderr %q", missing.code, missing.stderr)
	}
}

// noise returns n reproducible pseudo-random bytes.
func noise(n int) []byte {
	b := make([]byte, n)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// TestFailures checks exit statuses: 1 when a command fails, 125 when hull
// is called wrongly.
func TestFailures(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	tests := []struct {
		args []string
		code int
		want string // in stderr
	}{
		{[]string{"frobnicate"}, 125, `unknown command "frobnicate"`},
		{[]string{"image", "frobnicate"}, 125, `unknown command "frobnicate" for "hull image"`},
		{[]string{"images", "--bogus"}, 125, "See 'hull images --help'"},
		{[]string{"tag", "only-one"}, 125, "requires exactly 2 arguments"},
		{[]string{"rmi"}, 125, "requires at least 1 argument"},
		{[]string{"--nope", "images"}, 125, "See 'hull --help'"},
		{[]string{"import", "-c", "FROB x", "-"}, 125, "unknown instruction FROB"},
		{[]string{"inspect", "-f", "{{.Id", "x"}, 125, "template parsing error"},
		{[]string{"image", "inspect", "--type", "volume", "x"}, 125, "See 'hull image inspect --help'"},
		{[]string{"pull", "Bad:Ref"}, 1, `"Bad:Ref"`},
		{[]string{"tag", "nothing:here", "UPPER/Case"}, 1, "UPPER/Case"},
		{[]string{"rmi", "no/such:image", "other/missing"}, 1, "other/missing"},
		{[]string{"import", "/nonexistent/rootfs.tar"}, 1, "/nonexistent/rootfs.tar"},
	}
	for _, tt := range tests {
		r := hullCmd(t, root, nil, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("hull %q: exit %d, stderr %q; want exit %d and %q", tt.args, r.code, r.stderr, tt.code, tt.want)
		}
		if !strings.HasPrefix(r.stderr, "hull: ") {
			t.Errorf("hull %q: stderr %q does not start with \"hull: \"", tt.args, r.stderr)
		}
	}
}

// TestHelp checks that help and version need no root and exit 0.
func TestHelp(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "never-created")
	for _, args := range [][]string{
		{}, {"--help"}, {"help"}, {"help", "image", "ls"}, {"pull", "--help"}, {"image", "--help"}, {"version"},
	} {
		r := mustHull(t, root, nil, args...)
		if r.stdout == "" {
			t.Errorf("hull %q printed nothing", args)
		}
	}
	if r := mustHull(t, root, nil, "help", "rmi"); !strings.Contains(r.stdout, "-f, --force") {
		t.Errorf("help rmi:\n%s", r.stdout)
	}
	// Without --root, $HULL_ROOT names the root.
	cmd := exec.CommandContext(t.Context(), hullBin, "version")
	cmd.Env = append(os.Environ(), "HULL_ROOT="+root)
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "Root:        "+root+"\n") {
		t.Errorf("hull version with HULL_ROOT set: %v\n%s", err, out)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("help or version created the root (%v)", err)
	}
}
