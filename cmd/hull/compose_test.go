//go:build linux

package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/hostobj"
	"github.com/hullbox/hull/internal/netsetup"
	"github.com/hullbox/hull/internal/testutil"
	"github.com/vishvananda/netlink"
)

// appRoot is a fresh root holding app:test, busybox with bin/app built
// from ../../compose/testdata/app.
func appRoot(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not installed: the test compiles its application")
	}
	files := testutil.BusyboxFiles(t)
	bin := filepath.Join(t.TempDir(), "app")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = "../../compose/testdata/app"
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build app: %v\n%s", err, out)
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, testutil.File{Name: "bin/app", Mode: 0o755, Body: body})
	root := t.TempDir()
	mustHull(t, root, testutil.TarBytes(t, files), "import", "-c", "ENV "+testutil.DefaultPath, "-", "app:test")
	return root
}

const composeWebCounter = `
name: wc
services:
  web:
    image: app:test
    command: ["app", "web", ":80", "counter:7000"]
    init: true
    ports: ["127.0.0.1:18480:80"]
    depends_on:
      counter: {condition: service_healthy}
  counter:
    image: app:test
    command: ["app", "counter", ":7000", "/data/count"]
    init: true
    healthcheck:
      test: ["CMD-SHELL", "[ -d /data ]"]
      interval: 100ms
    volumes:
      - type: volume
        source: data
        target: /data
volumes:
  data:
`

func httpGet(t *testing.T, url string) string {
	t.Helper()
	var last error
	for range 50 {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(b)
			}
			err = &httpError{resp.Status, string(b)}
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

type httpError struct{ status, body string }

func (e *httpError) Error() string { return e.status + ": " + e.body }

func linkNames(t *testing.T) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		out = append(out, l.Attrs().Name)
	}
	slices.Sort(out)
	return out
}

// ourRules are the owners of the root's rules in hull's nftables table.
func ourRules(t *testing.T, root string) []string {
	t.Helper()
	ctrs, brs, err := netsetup.Owners()
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(root)
	var out []string
	for _, o := range append(ctrs, brs...) {
		if strings.HasPrefix(o, hostobj.RuleTag(abs)+":") {
			out = append(out, o)
		}
	}
	return out
}

// TestComposeWebCounter is the classic two-service app: up -d --wait
// (web waits for counter's health check, which goes on once hull has
// exited), the web
// port answers on 127.0.0.1 with a count that rises, stop and start keep
// the count (in a volume), and down -v, each from another hull process
// (down with -p and no compose file), leaves no container, network,
// volume, link or nft rule. Not parallel: it compares the host's links
// before, during and after.
func TestComposeWebCounter(t *testing.T) {
	root := appRoot(t)
	requirePrivateNetns(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(composeWebCounter), 0o644); err != nil {
		t.Fatal(err)
	}
	links := linkNames(t)
	c := func(args ...string) result {
		return mustHull(t, root, nil, append([]string{"compose", "-f", file}, args...)...)
	}

	up := c("up", "-d", "--wait")
	for _, want := range []string{"Network wc_default  Created", "Volume wc_data  Created", "Container wc-counter-1  Started", "Container wc-web-1  Started"} {
		if !strings.Contains(up.stderr, want) {
			t.Errorf("up -d did not report %q:\n%s", want, up.stderr)
		}
	}
	defer hullCmd(t, root, nil, "compose", "-f", file, "down", "-v", "-t", "0")
	// up --wait returned with counter healthy; its checks go on in its
	// supervisor now that the hull process that started it has exited.
	health := func() string {
		return mustHull(t, root, nil, "inspect", "-f", "{{.State.Health.Status}}{{range .State.Health.Log}} {{.End.UnixNano}}{{end}}", "wc-counter-1").stdout
	}
	first := health()
	if !strings.HasPrefix(first, "healthy ") {
		t.Errorf("counter after up -d --wait: %q", first)
	}
	for deadline := time.Now().Add(10 * time.Second); health() == first; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("no health check of counter in 10 s after up exited: %q", first)
			break
		}
	}
	if got := httpGet(t, "http://127.0.0.1:18480/"); !strings.HasPrefix(got, "count 1 from ") {
		t.Fatalf("first GET: %q", got)
	}
	if got := httpGet(t, "http://127.0.0.1:18480/"); !strings.HasPrefix(got, "count 2 from ") {
		t.Fatalf("second GET: %q", got)
	}
	if out := c("exec", "counter", "cat", "/data/count").stdout; out != "2" {
		t.Errorf("exec counter cat /data/count: %q", out)
	}
	if out := c("run", "--rm", "counter", "echo", "one-off").stdout; out != "one-off\n" {
		t.Errorf("run --rm counter echo: %q", out)
	}
	ps := c("ps").stdout
	if !strings.Contains(ps, "wc-web-1") || !strings.Contains(ps, "127.0.0.1:18480->80/tcp") || !strings.Contains(ps, "wc-counter-1") {
		t.Errorf("ps:\n%s", ps)
	}
	if logs := c("logs", "counter").stdout; !strings.Contains(logs, "wc-counter-1 | counter listening on :7000") {
		t.Errorf("logs counter: %q", logs)
	}
	var ours []string // the links the project added: its bridge, veths
	for _, l := range linkNames(t) {
		if !slices.Contains(links, l) {
			ours = append(ours, l)
		}
	}
	if len(ours) == 0 {
		t.Errorf("no link of the project's network while it is up")
	}
	if len(ourRules(t, root)) == 0 {
		t.Errorf("no nft rules while the port is published")
	}

	c("stop", "-t", "5")
	if ps := c("ps").stdout; strings.Count(ps, "exited") != 2 {
		t.Errorf("ps after stop:\n%s", ps)
	}
	c("start")
	if got := httpGet(t, "http://127.0.0.1:18480/"); !strings.HasPrefix(got, "count 3 from ") {
		t.Errorf("GET after stop and start: %q, want count 3", got)
	}

	// down from another process, without the file: by the project's name.
	mustHull(t, root, nil, "compose", "--project-directory", t.TempDir(), "-p", "wc", "down", "-v")
	if out := mustHull(t, root, nil, "ps", "-a", "-q").stdout; out != "" {
		t.Errorf("containers left: %q", out)
	}
	if out := mustHull(t, root, nil, "network", "ls").stdout; strings.Contains(out, "wc_") {
		t.Errorf("networks left:\n%s", out)
	}
	if out := mustHull(t, root, nil, "volume", "ls", "-q").stdout; out != "" {
		t.Errorf("volumes left: %q", out)
	}
	for _, l := range linkNames(t) {
		if !slices.Contains(links, l) || slices.Contains(ours, l) {
			t.Errorf("link %s left (before up: %v; while up: %v)", l, links, ours)
		}
	}
	if rules := ourRules(t, root); len(rules) != 0 {
		t.Errorf("nft rules left: %v", rules)
	}
}

// TestComposeConfigCorpus: hull compose config prints, for every project
// of package compose's corpus, the normalization compose-go makes of it
// (the golden files TestConfigCorpus checks against compose-go).
func TestComposeConfigCorpus(t *testing.T) {
	t.Parallel()
	dirs, err := filepath.Glob("../../compose/testdata/corpus/*")
	if err != nil || len(dirs) < 10 {
		t.Fatalf("corpus: %v %v", dirs, err)
	}
	for _, d := range dirs {
		dir, _ := filepath.Abs(d)
		args := []string{"compose", "--project-directory", dir}
		head, _ := os.ReadFile(filepath.Join(dir, "compose.yaml"))
		files := []string{"compose.yaml"}
		if line, ok := strings.CutPrefix(string(head), "# files:"); ok {
			files = strings.Fields(strings.SplitN(line, "\n", 2)[0])
		}
		for _, f := range files {
			args = append(args, "-f", filepath.Join(dir, f))
		}
		cmd := exec.CommandContext(t.Context(), hullBin, append(args, "config")...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no variable of ours interpolated
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("%s: config: %v", filepath.Base(dir), err)
			continue
		}
		golden, err := os.ReadFile(filepath.Join(dir, "config.golden.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ReplaceAll(string(out), dir, "${CORPUS_DIR}"); got != string(golden) {
			t.Errorf("%s: hull compose config:\n%s\nwant:\n%s", filepath.Base(dir), got, golden)
		}
	}
}

// TestComposeUpAttached: without -d, up streams the services' logs,
// prefixed with the container's name, and Ctrl-C takes the project down
// (its volume stays).
func TestComposeUpAttached(t *testing.T) {
	root := appRoot(t)
	requirePrivateNetns(t)
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	yaml := strings.NewReplacer("name: wc", "name: att", "18480", "18481").Replace(composeWebCounter)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	defer hullCmd(t, root, nil, "compose", "-f", file, "down", "-v", "-t", "0")
	cmd := exec.Command(hullBin, "--root", root, "compose", "-f", file, "up")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerConfig)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	seen := map[string]bool{}
	timeout := time.After(20 * time.Second)
	for !seen["att-web-1     | web listening on :80"] || !seen["att-counter-1 | counter listening on :7000"] {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("up ended; saw %v\n%s", seen, stderr.String())
			}
			seen[l] = true
		case <-timeout:
			t.Fatalf("up: no log lines after 20 s; saw %v\n%s", seen, stderr.String())
		}
	}
	if got := httpGet(t, "http://127.0.0.1:18481/"); !strings.HasPrefix(got, "count 1 ") {
		t.Errorf("GET: %q", got)
	}
	cmd.Process.Signal(syscall.SIGINT)
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("up after Ctrl-C: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "Gracefully stopping") || !strings.Contains(stderr.String(), "Network att_default  Removed") {
		t.Errorf("up's messages:\n%s", stderr.String())
	}
	if ps := mustHull(t, root, nil, "compose", "-f", file, "ps", "-q").stdout; ps != "" {
		t.Errorf("ps after Ctrl-C: %q", ps)
	}
	if vols := mustHull(t, root, nil, "volume", "ls", "-q").stdout; vols != "att_data\n" {
		t.Errorf("volumes after Ctrl-C: %q, want att_data kept", vols)
	}
}
