package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var pushedLine = regexp.MustCompile(`(?m)^([^:\n]+): digest: (sha256:[0-9a-f]{64}) size: ([0-9]+)$`)

// importTagged imports a small image into root as ref and returns its ID.
func importTagged(t *testing.T, root, seed, ref string) string {
	t.Helper()
	out := mustHull(t, root, rootfsTar(t, seed), "import", "-m", "made by "+t.Name(), "-", ref).stdout
	return strings.TrimSpace(out)
}

// inspectField applies an inspect template to ref in root.
func inspectField(t *testing.T, root, ref, format string) string {
	t.Helper()
	return strings.TrimSpace(mustHull(t, root, nil, "inspect", "-f", format, ref).stdout)
}

// TestPush pushes to an in-process registry, lists its tags and pulls the
// image back into another root.
func TestPush(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	reg := testutil.StartRegistry(t)
	root := t.TempDir()
	importTagged(t, root, "push", "test/push:1")
	ref := reg.Host + "/x:1"
	mustHull(t, root, nil, "tag", "test/push:1", ref)

	p := mustHull(t, root, nil, "push", ref)
	t.Logf("hull push %s:\n%s%s", ref, p.stderr, p.stdout)
	m := pushedLine.FindStringSubmatch(p.stdout)
	if m == nil || m[1] != "1" || m[0]+"\n" != p.stdout {
		t.Fatalf("push stdout = %q, want \"1: digest: sha256:... size: N\"", p.stdout)
	}
	digest, size := m[2], m[3]
	// The registry holds the manifest printed (not the local one: the
	// imported layer went gzip-compressed).
	if desc, err := reg.Repository(t, "x").Resolve(t.Context(), "1"); err != nil || desc.Digest.String()+" "+strconv.FormatInt(desc.Size, 10) != digest+" "+size {
		t.Errorf("pushed %s size %s, but the registry has %s size %d (%v)", digest, size, desc.Digest, desc.Size, err)
	}
	if !strings.HasPrefix(p.stderr, "The push refers to repository ["+reg.Host+"/x]\n") {
		t.Errorf("push stderr does not start with the repository:\n%s", p.stderr)
	}
	for _, status := range []string{"Preparing", "Pushing", "Pushed"} {
		// Not a terminal: one line per status change.
		re := regexp.MustCompile(`(?m)^[0-9a-f]{12}: ` + status + `$`)
		if n := len(re.FindAllString(p.stderr, -1)); n != 1 {
			t.Errorf("%d %q lines for the one layer, want 1:\n%s", n, status, p.stderr)
		}
	}

	again := mustHull(t, root, nil, "image", "push", ref)
	if !regexp.MustCompile(`(?m)^[0-9a-f]{12}: Layer already exists$`).MatchString(again.stderr) ||
		again.stdout != p.stdout {
		t.Errorf("second push: stdout %q, stderr:\n%s", again.stdout, again.stderr)
	}
	if q := mustHull(t, root, nil, "push", "-q", ref); q.stdout != ref+"\n" || q.stderr != "" {
		t.Errorf("push -q: stdout %q, stderr %q", q.stdout, q.stderr)
	}

	// Another tag, pushed with -a along with the first.
	mustHull(t, root, nil, "tag", "test/push:1", reg.Host+"/x:2")
	all := mustHull(t, root, nil, "push", "-a", reg.Host+"/x")
	if lines := pushedLine.FindAllStringSubmatch(all.stdout, -1); len(lines) != 2 ||
		lines[0][1] != "1" || lines[1][1] != "2" || lines[1][2] != digest {
		t.Errorf("push -a stdout:\n%s", all.stdout)
	}
	if got := mustHull(t, root, nil, "tags", reg.Host+"/x").stdout; got != "1\n2\n" {
		t.Errorf("tags = %q, want 1 and 2", got)
	}

	fresh := t.TempDir()
	mustHull(t, fresh, nil, "pull", "-q", ref)
	if got := inspectField(t, fresh, ref, "{{.Descriptor.Digest}}"); got != digest {
		t.Errorf("pulled back %s, pushed %s", got, digest)
	}
}

// TestPushFailures checks push's and tags' errors.
func TestPushFailures(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	reg := testutil.StartRegistry(t)
	root := t.TempDir()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"push", reg.Host + "/absent:1"}, 1, "absent:1"},
		{[]string{"push", "-a", reg.Host + "/absent"}, 1, "does not exist locally"},
		{[]string{"push", "-a", reg.Host + "/x:1"}, 125, "tag can't be used with --all-tags/-a"},
		{[]string{"push"}, 125, "requires exactly 1 argument"},
		{[]string{"tags", reg.Host + "/x:1"}, 1, "without tag or digest"},
		{[]string{"tags", reg.Host + "/never-pushed"}, 1, "never-pushed"},
	}
	for _, tt := range tests {
		r := hullCmd(t, root, nil, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("hull %q: exit %d, stderr %q; want exit %d and %q", tt.args, r.code, r.stderr, tt.code, tt.want)
		}
	}
}

// TestLogin logs in to a registry demanding basic auth, with the
// credentials in a --config directory.
func TestLogin(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	reg := testutil.StartRegistry(t, testutil.WithBasicAuth("hull", "s3cret"))
	root, config := t.TempDir(), t.TempDir()
	configJSON := filepath.Join(config, "config.json")
	ref := reg.Host + "/auth:1"
	importTagged(t, root, "auth", ref)
	withConfig := func(args ...string) []string { return append([]string{"--config", config}, args...) }

	denied := hullCmd(t, root, nil, withConfig("push", ref)...)
	if denied.code != 1 || !strings.Contains(denied.stderr, "hull login "+reg.Host) {
		t.Fatalf("push without login: exit %d, stderr %q; want a hint to log in", denied.code, denied.stderr)
	}

	wrong := hullCmd(t, root, []byte("nope\n"), withConfig("login", "-u", "hull", "--password-stdin", reg.Host)...)
	if wrong.code != 1 || strings.Contains(wrong.stdout, "Login Succeeded") {
		t.Errorf("login with a wrong password: exit %d, stdout %q", wrong.code, wrong.stdout)
	}
	if _, err := os.Stat(configJSON); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused login wrote %s (%v)", configJSON, err)
	}

	// Prompted: the user name and the password on lines of stdin.
	ok := mustHull(t, root, []byte("hull\ns3cret\n"), withConfig("login", reg.Host)...)
	if ok.stdout != "Username: Password: Login Succeeded\n" {
		t.Errorf("login stdout = %q", ok.stdout)
	}
	if data, err := os.ReadFile(configJSON); err != nil || !strings.Contains(string(data), reg.Host) {
		t.Errorf("login did not store credentials in %s (%v): %s", configJSON, err, data)
	}
	mustHull(t, root, nil, withConfig("push", "-q", ref)...)
	mustHull(t, t.TempDir(), nil, withConfig("pull", "-q", ref)...)
	if got := mustHull(t, root, nil, withConfig("tags", reg.Host+"/auth")...).stdout; got != "1\n" {
		t.Errorf("tags with credentials = %q", got)
	}

	if out := mustHull(t, root, nil, withConfig("logout", reg.Host)...).stdout; out != "Removing login credentials for "+reg.Host+"\n" {
		t.Errorf("logout printed %q", out)
	}
	if out := mustHull(t, root, nil, withConfig("logout", "http://"+reg.Host+"/")...).stdout; out != "Not logged in to "+reg.Host+"\n" {
		t.Errorf("second logout printed %q", out)
	}
	after := hullCmd(t, t.TempDir(), nil, withConfig("pull", ref)...)
	if after.code != 1 || !strings.Contains(after.stderr, "hull login "+reg.Host) {
		t.Errorf("pull after logout: exit %d, stderr %q", after.code, after.stderr)
	}
}

// TestLoginUsage checks the flag combinations login refuses before asking
// the registry anything.
func TestLoginUsage(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, tt := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"login", "-p", "x", "--password-stdin", "-u", "u", "h"}, "", "mutually exclusive"},
		{[]string{"login", "--password-stdin", "h"}, "x\n", "Must provide --username"},
	} {
		r := hullCmd(t, root, []byte(tt.stdin), tt.args...)
		if r.code != 125 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("hull %q: exit %d, stderr %q; want 125 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	if r := hullCmd(t, root, []byte("\n"), "login", "h"); r.code != 1 || !strings.Contains(r.stderr, "Username Required") {
		t.Errorf("login with an empty user name: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestSaveLoad saves a tagged and an untagged image and loads them into
// fresh roots, from a file and from stdin.
func TestSaveLoad(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	root := t.TempDir()
	tagged := importTagged(t, root, "save", "test/save:1")
	untagged := strings.TrimSpace(mustHull(t, root, rootfsTar(t, "untagged"), "import", "-").stdout)
	file := filepath.Join(t.TempDir(), "images.tar")

	if s := mustHull(t, root, nil, "save", "-o", file, "test/save:1", untagged); s.stdout != "" {
		t.Errorf("save -o wrote %q to stdout", s.stdout)
	}
	want := "Loaded image: test/save:1\nLoaded image ID: " + untagged + "\n"
	fresh := t.TempDir()
	if got := mustHull(t, fresh, nil, "load", "-i", file).stdout; got != want {
		t.Errorf("load -i printed %q, want %q", got, want)
	}
	rows := tableRows(mustHull(t, fresh, nil, "images").stdout)
	if len(rows) != 2 || !slices.ContainsFunc(rows, func(r []string) bool {
		return r[0] == "test/save" && r[1] == "1" && r[2] == strings.TrimPrefix(tagged, "sha256:")[:12]
	}) {
		t.Errorf("images after load: %v", rows)
	}

	// Through stdout and stdin, with the image group's names.
	tarball := mustHull(t, root, nil, "image", "save", "test/save").stdout
	if got := mustHull(t, t.TempDir(), []byte(tarball), "image", "load", "-q").stdout; got != "Loaded image: test/save:1\n" {
		t.Errorf("load from stdin printed %q", got)
	}

	missing := filepath.Join(t.TempDir(), "missing.tar")
	if r := hullCmd(t, root, nil, "save", "-o", missing, "no/such:image"); r.code != 1 {
		t.Errorf("save of a missing image: exit %d", r.code)
	}
	if entries, _ := os.ReadDir(filepath.Dir(missing)); len(entries) != 0 {
		t.Errorf("a failed save -o left %v behind", entries)
	}
	if r := hullCmd(t, fresh, []byte("not a tar"), "load"); r.code != 1 {
		t.Errorf("load of garbage: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestHistory checks the history table of a pulled image with empty
// layers, and the history of a tag moved by a second import.
func TestHistory(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	reg := testutil.StartRegistry(t)
	created := time.Now().Add(-3 * time.Hour)
	long := "/bin/sh -c echo a command far longer than forty-five characters"
	reg.Push(t, "hist:1", testutil.Image{
		Layers: []testutil.Layer{{Files: []testutil.File{{Name: "a", Body: []byte("a")}}, Compression: testutil.Gzip}},
		History: []ocispec.History{
			{Created: &created, CreatedBy: "ADD a /\t# file", Comment: "buildkit.dockerfile.v0"},
			{Created: &created, CreatedBy: long, EmptyLayer: true},
			{Created: &created, CreatedBy: `CMD ["sh"]`, EmptyLayer: true},
		},
	})
	root := t.TempDir()
	ref := reg.Host + "/hist:1"
	mustHull(t, root, nil, "pull", "-q", ref)
	id := inspectField(t, root, ref, "{{.Id}}")
	short := strings.TrimPrefix(id, "sha256:")[:12]

	out := mustHull(t, root, nil, "history", ref).stdout
	t.Logf("hull history:\n%s", out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "IMAGE") || !strings.Contains(lines[0], "CREATED BY") {
		t.Fatalf("history:\n%s", out)
	}
	re := regexp.MustCompile(`^(\S+) +3 hours ago +(.+?) {3,}(\S+)(?: {3,}(\S+))?$`)
	want := [][]string{
		{short, `CMD ["sh"]`, "0B", ""},
		{"<missing>", "/bin/sh -c echo a command far longer than fo…", "0B", ""},
		{"<missing>", "ADD a / # file", "", "buildkit.dockerfile.v0"},
	}
	for i, w := range want {
		m := re.FindStringSubmatch(strings.TrimRight(lines[i+1], " "))
		if m == nil || m[1] != w[0] || m[2] != w[1] || (w[2] != "" && m[3] != w[2]) || m[4] != w[3] {
			t.Errorf("history row %d = %q, want %q", i, lines[i+1], w)
		} else if i == 2 && m[3] == "0B" {
			t.Errorf("the layer's row has size 0B: %q", lines[i+1])
		}
	}
	q := mustHull(t, root, nil, "image", "history", "-q", "--no-trunc", ref).stdout
	if q != id+"\n<missing>\n<missing>\n" {
		t.Errorf("history -q --no-trunc = %q", q)
	}
	if full := mustHull(t, root, nil, "history", "--no-trunc", ref).stdout; !strings.Contains(full, long) {
		t.Errorf("history --no-trunc truncated CREATED BY:\n%s", full)
	}

	// The tag moves to an imported image: two events, the newest last.
	importTagged(t, root, "moved", ref)
	newDigest := inspectField(t, root, ref, "{{.Descriptor.Digest}}")
	oldDigest := inspectField(t, root, id, "{{.Descriptor.Digest}}")
	th := mustHull(t, root, nil, "history", "--tags", ref).stdout
	rows := tableRows(th)
	if !strings.HasPrefix(th, "DIGEST") || len(rows) != 2 ||
		rows[0][0] != oldDigest || rows[0][len(rows[0])-1] != short ||
		rows[1][0] != newDigest {
		t.Errorf("history --tags:\n%s", th)
	}
	if got := mustHull(t, root, nil, "history", "--tags", "-q", ref).stdout; got != oldDigest+"\n"+newDigest+"\n" {
		t.Errorf("history --tags -q = %q", got)
	}
	// Rolling back: the tag takes an earlier digest again.
	mustHull(t, root, nil, "tag", oldDigest, ref)
	if got := inspectField(t, root, ref, "{{.Descriptor.Digest}}"); got != oldDigest {
		t.Errorf("after tag %s %s, the tag points at %s", oldDigest, ref, got)
	}
	if r := hullCmd(t, root, nil, "history", "--tags", "no/such:tag"); r.code != 1 {
		t.Errorf("history --tags of a missing tag: exit %d", r.code)
	}
}

// TestTerminalRefusals runs hull in-process as if stdin or stdout were a
// terminal: save will not write a tar there, load will not wait on it.
func TestTerminalRefusals(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "never-created")
	for _, tt := range []struct {
		e    env
		args []string
		want string
	}{
		{env{stdoutTTY: true}, []string{"save", "x"}, "cowardly refusing to save to a terminal. Use the -o flag or redirect"},
		{env{stdinTTY: true}, []string{"load"}, "requested load from stdin, but stdin is empty"},
	} {
		var stdout, stderr bytes.Buffer
		e := tt.e
		e.stdin, e.stdout, e.stderr = strings.NewReader(""), &stdout, &stderr
		code := run(context.Background(), &e, append([]string{"--root", root}, tt.args...))
		if code != 1 || !strings.Contains(stderr.String(), tt.want) || stdout.Len() != 0 {
			t.Errorf("hull %q: exit %d, stdout %q, stderr %q; want exit 1 and %q", tt.args, code, stdout.String(), stderr.String(), tt.want)
		}
	}
	if _, err := os.Stat(root); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused command opened the root (%v)", err)
	}
}

func TestPushProgress(t *testing.T) {
	t.Parallel()
	ref, err := hull.ParseReference("localhost:5000/app:1")
	if err != nil {
		t.Fatal(err)
	}
	events := []hull.Progress{
		{ID: "aaa", Status: "Preparing"},
		{ID: "bbb", Status: "Preparing"},
		{ID: "aaa", Status: "Pushing", Current: 1 << 20, Total: 2 << 20},
		{ID: "bbb", Status: "Mounted from other/app"},
		{ID: "aaa", Status: "Pushing", Current: 2 << 20, Total: 2 << 20},
		{ID: "aaa", Status: "Pushed"},
		{ID: "ccc", Status: "Done"},
	}
	var plain bytes.Buffer
	p := newProgressPrinter(&plain, false, ref)
	for _, ev := range events {
		p.pushUpdate(ev)
	}
	want := "aaa: Preparing\nbbb: Preparing\naaa: Pushing\nbbb: Mounted from other/app\naaa: Pushed\n"
	if plain.String() != want {
		t.Errorf("plain progress:\n%s\nwant:\n%s", plain.String(), want)
	}
	var tty bytes.Buffer
	p = newProgressPrinter(&tty, true, ref)
	for _, ev := range events[:3] {
		p.pushUpdate(ev)
	}
	if !strings.Contains(tty.String(), "\x1b[2A\r\x1b[2Kaaa: Pushing [=========================>") ||
		!strings.Contains(tty.String(), "1.049MB/2.097MB\x1b[2B\r") {
		t.Errorf("terminal progress: %q", tty.String())
	}
}

func TestSmallHelpers(t *testing.T) {
	t.Parallel()
	for ref, want := range map[string]bool{
		"app": false, "localhost:5000/app": false, "localhost:5000/app:1": true,
		"app:1": true, "app@sha256:abc": true, "a/b/c": false,
	} {
		if got := hasTagOrDigest(ref); got != want {
			t.Errorf("hasTagOrDigest(%q) = %v", ref, got)
		}
	}
	for server, want := range map[string]string{
		"": "https://index.docker.io/v1/", "localhost:5000": "localhost:5000",
		"https://reg.example/v2/": "reg.example", "http://127.0.0.1:1": "127.0.0.1:1",
	} {
		if got := serverHostname(server); got != want {
			t.Errorf("serverHostname(%q) = %q, want %q", server, got, want)
		}
	}
	if got := ellipsis("abcdef", 4); got != "abc…" {
		t.Errorf("ellipsis = %q", got)
	}
	if got := ellipsis("abcd", 4); got != "abcd" {
		t.Errorf("ellipsis of a short string = %q", got)
	}
	err := withLoginHint(&hull.RegistryError{StatusCode: 401}, "docker.io")
	if !errors.Is(err, hull.ErrUnauthorized) || !strings.HasSuffix(err.Error(), "Log in with 'hull login' and try again") {
		t.Errorf("withLoginHint = %v", err)
	}
}
