// Command compose runs a compose file with hull's compose package, in
// this process, as `docker compose` does: it writes a compose.yaml of two
// services (a busybox httpd "web" published on 127.0.0.1, and a "store"
// that counts visits in a volume the two share), brings the project up
// detached and waits until the store's health check passes, visits the
// web page a few times, prints what Ps and Logs report, and takes the
// project down with its volume. It needs Linux, root and nothing else:
// the image is made on the spot from the host's static busybox (Debian's
// busybox-static); only loopback and the project's own bridge are used.
//
//	sudo apt-get install -y busybox-static
//	sudo go run ./examples/compose
//
// The state root is a temporary directory, removed at the end, unless
// -root names one (the default of the library is /var/lib/hull). The
// same project can be driven from the command line: `hull compose -f
// compose.yaml up -d`, then `hull compose -p visits down -v`.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/compose"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func main() {
	root := flag.String("root", "", "state root (default: a temporary directory, removed at the end)")
	flag.Parse()
	log.SetFlags(0)
	// Ctrl-C ends the run; the project is taken down all the same.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *root); err != nil {
		log.Fatal("compose: ", err)
	}
}

// composeFile is the project. web answers / with a page its CGI script
// makes by asking store, by its service name on the project's network,
// to count the visit; store keeps the count in the volume "data", which
// web serves read-only at /data. web starts once store is healthy; its
// port 80 is published on a free port of 127.0.0.1.
const composeFile = `name: visits
services:
  store:
    image: compose/busybox:1
    init: true   # an init that forwards Down's SIGTERM
    command: ["sh", "-c", "echo store: counting visits in /data; exec httpd -f -p 8080 -h /store"]
    volumes:
      - data:/data
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 5s
      start_interval: 100ms
      start_period: 10s
  web:
    image: compose/busybox:1
    init: true
    command: ["sh", "-c", "echo web: serving on port 80; exec httpd -f -p 80 -h /web"]
    ports:
      - "127.0.0.1::80"
    volumes:
      - data:/web/data:ro
    depends_on:
      store:
        condition: service_healthy
volumes:
  data:
`

// The image's CGI scripts and pages, beside busybox.
var scripts = map[string]string{
	// store: /cgi-bin/count adds one to /data/visits and answers the count.
	"store/index.html": "ok\n",
	"store/cgi-bin/count": `#!/bin/sh
n=$(( $(cat /data/visits 2>/dev/null || echo 0) + 1 ))
echo $n > /data/visits
echo "store: visit $n" >&2  # httpd's stderr: the container's log
printf 'Content-Type: text/plain\r\n\r\n%s\n' $n
`,
	// web: / is /cgi-bin/index.cgi (httpd's index), which asks store.
	"web/cgi-bin/index.cgi": `#!/bin/sh
n=$(wget -q -O - http://store:8080/cgi-bin/count) || exit 1
echo "web: visitor $n from $REMOTE_ADDR" >&2
printf 'Content-Type: text/plain\r\n\r\nhello from web, visitor %s\n' "$n"
`,
}

func run(ctx context.Context, root string) (retErr error) {
	tmp, err := os.MkdirTemp("", "hull-compose-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if root == "" {
		root = filepath.Join(tmp, "root")
	}
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		return err
	}
	defer func() { retErr = errors.Join(retErr, rt.Close()) }()

	img, err := image(ctx, rt)
	if err != nil {
		return err
	}
	defer rt.RemoveImage(ctx, "compose/busybox:1")
	say("image", "compose/busybox:1 %s, %.1f MB", short(img.ID()), float64(img.Size())/1e6)

	dir := filepath.Join(tmp, "visits")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(composeFile), 0o644); err != nil {
		return err
	}
	// WithEnvironment(): the file is not interpolated with this process's
	// environment (COMPOSE_PROJECT_NAME and the like), for a reproducible
	// result.
	p, err := compose.Load(ctx, compose.WithFiles(file), compose.WithEnvironment())
	if err != nil {
		return err
	}
	say("load", "%s: project %s, services %v", file, p.Name(), p.Services())

	// Detached containers outlive this process, as with `docker compose
	// up -d`: Down removes them, here or from another process on the
	// same root. WithWait returns once store's health check has passed.
	// Down runs even if Up fails half-way, or the run is interrupted or
	// takes too long (Up waits for the health check as long as its
	// context lets it): with a context of its own.
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		down := &prefixed{what: "down"}
		err := p.Down(ctx, rt, compose.WithRemoveVolumes(), compose.WithTimeout(5*time.Second), compose.WithStatus(down))
		retErr = errors.Join(retErr, err)
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	status := &prefixed{what: "up"}
	err = p.Up(ctx, rt, compose.WithDetached(), compose.WithWait(), compose.WithStatus(status))
	if err != nil {
		return err
	}
	say("up", "in %v: store healthy, then web started", time.Since(start).Round(time.Millisecond))

	cs, err := p.Ps(ctx, rt)
	if err != nil {
		return err
	}
	url := ""
	for _, c := range cs {
		state := string(c.Status)
		if in, err := c.Container.Inspect(ctx); err == nil && in.State.Health != nil {
			state += " (" + string(in.State.Health.Status) + ")"
		}
		say("ps", "%s", strings.TrimSpace(fmt.Sprintf("%-15s %-6s %-18s %s", c.Name, c.Service, state, strings.Join(c.Ports, " "))))
		if c.Service == "web" && len(c.Ports) > 0 {
			url = "http://" + strings.SplitN(c.Ports[0], "->", 2)[0] + "/"
		}
	}
	if url == "" {
		return errors.New("web publishes no port")
	}
	if err := showNetwork(ctx, rt, p.Name()+"_default"); err != nil {
		return err
	}

	for range 3 {
		status, body, err := get(ctx, url)
		if err != nil {
			return err
		}
		say("http", "GET %s: %s %q", url, status, strings.TrimSpace(body))
	}
	// The count store keeps in the volume, read through web's mount of it.
	status2, body, err := get(ctx, url+"data/visits")
	if err != nil {
		return err
	}
	say("http", "GET %sdata/visits: %s %q (store's file, in the volume both mount)", url, status2, strings.TrimSpace(body))

	// The scripts log after they answer: give the last line a moment to
	// reach the log.
	var logs bytes.Buffer
	for deadline := time.Now().Add(2 * time.Second); ; {
		logs.Reset()
		if err := p.Logs(ctx, rt, &logs); err != nil {
			return err
		}
		if strings.Contains(logs.String(), "visitor 3") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		say("logs", "%s", l)
	}
	return nil
}

// showNetwork prints the project's network: its bridge, its subnet and
// its containers. Each service is found by its name there (web's script
// asks http://store:8080/).
func showNetwork(ctx context.Context, rt *hull.Runtime, name string) error {
	n, err := rt.Network(ctx, name)
	if err != nil {
		return err
	}
	in, err := n.Inspect(ctx)
	if err != nil {
		return err
	}
	var eps []string
	for _, ep := range in.Containers {
		eps = append(eps, ep.Name+" "+strings.Split(ep.IPv4Address, "/")[0])
	}
	slices.Sort(eps)
	cfg := in.IPAM.Config[0]
	say("network", "%s: %s, gateway %s; %s", in.Name, cfg.Subnet, cfg.Gateway, strings.Join(eps, ", "))
	return nil
}

// image makes the services' image from /bin/busybox and the scripts.
func image(ctx context.Context, rt *hull.Runtime) (*hull.Image, error) {
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("%w (apt-get install busybox-static)", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "etc/", "proc/", "sys/", "dev/", "data/", "store/", "store/cgi-bin/", "web/", "web/cgi-bin/", "web/data/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin))})
	tw.Write(bin)
	for _, a := range []string{"sh", "cat", "echo", "httpd", "printf", "wget"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	for name, body := range scripts {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body))})
		io.WriteString(tw, body)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return rt.Import(ctx, &buf, "compose/busybox:1",
		hull.WithImportConfig(ocispec.ImageConfig{
			Cmd: []string{"sh"},
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		}))
}

// get fetches url, retrying for a few seconds while the server starts.
func get(ctx context.Context, url string) (status, body string, err error) {
	for deadline := time.Now().Add(10 * time.Second); ; {
		var resp *http.Response
		resp, err = http.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.Status, string(b), rerr
		}
		if time.Now().After(deadline) {
			return "", "", err
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// prefixed prints the lines compose reports (WithStatus) as say does.
// Services start concurrently: so may the lines come.
type prefixed struct {
	what string
	mu   sync.Mutex
}

func (p *prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		say(p.what, "%s", l)
	}
	return len(b), nil
}

func say(what, format string, args ...any) {
	fmt.Printf("%-7s %s\n", what, fmt.Sprintf(format, args...))
}

// short is an ID as docker ps shows it.
func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
