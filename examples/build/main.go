// Command build builds an image from a Dockerfile with hull, in this
// process, as `docker build` does: it writes a small build context (a
// two-stage Dockerfile with RUN, COPY, ENV and CMD, and a .dockerignore),
// builds it printing one line per step, runs the image, changes one
// copied file and builds again (only the steps from that COPY on run),
// builds once more unchanged (every step from the cache), and removes
// everything it made. It needs Linux, root and nothing else: the base
// image is made on the spot from the host's static busybox (Debian's
// busybox-static), and RUN steps have no network (hull's default).
//
//	sudo apt-get install -y busybox-static
//	sudo go run ./examples/build
//
// The state root is a temporary directory, removed at the end, unless
// -root names one (the default of the library is /var/lib/hull); the
// context is written to a temporary directory, removed at the end.
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
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hullbox/hull"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func main() {
	root := flag.String("root", "", "state root (default: a temporary directory, removed at the end)")
	flag.Parse()
	log.SetFlags(0)
	if err := run(context.Background(), *root); err != nil {
		log.Fatal("build: ", err)
	}
}

// The build context. The first stage makes a file the second copies
// (COPY --from); the final stage's COPY of site/ comes after a slow-ish
// RUN, so that the cache visibly saves it when only site/ changes.
var files = map[string]string{
	"Dockerfile": `# A stage that makes a file for the next one.
FROM build/busybox:1 AS version
ARG VERSION=1.0.3
RUN mkdir -p /out && echo "$VERSION" > /out/version

FROM build/busybox:1
ENV GREETING="hello from a hull build"
RUN mkdir -p /app && sleep 0.3 && echo "made by RUN on $(uname -s)" > /app/built
COPY --from=version /out/version /app/version
COPY site/ /app/site/
RUN echo "index.html: $(wc -c < /app/site/index.html) bytes" | tee /app/size
CMD echo "$GREETING $(cat /app/version)"; cat /app/built /app/site/index.html; echo /app/site: $(ls /app/site)
`,
	// Docker's rules: "*.log" would match at the root only.
	".dockerignore":   "**/*.log\n",
	"site/index.html": "<h1>v1</h1>\n",
	"site/style.css":  "h1 { color: teal }\n",
	"site/debug.log":  "excluded by .dockerignore\n",
}

func run(ctx context.Context, root string) (retErr error) {
	tmp, err := os.MkdirTemp("", "hull-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if root == "" {
		root = filepath.Join(tmp, "root")
	}
	dir := filepath.Join(tmp, "app")
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		return err
	}
	defer func() { retErr = errors.Join(retErr, rt.Close()) }()

	base, err := baseImage(ctx, rt)
	if err != nil {
		return err
	}
	say("image", "build/busybox:1 %s, %.1f MB (the FROM image, imported)", short(base.ID()), float64(base.Size())/1e6)

	if err := writeContext(dir); err != nil {
		return err
	}
	say("context", "%s: Dockerfile, .dockerignore, site/index.html, site/style.css, site/debug.log", dir)

	// The tags and the build cache's images are removed at the end, also
	// with -root: Prune drops the untagged images the cache is made of.
	defer func() {
		_, err := rt.RemoveImage(ctx, "build/site:1")
		if errors.Is(err, hull.ErrNotFound) {
			err = nil
		}
		_, berr := rt.RemoveImage(ctx, "build/busybox:1")
		_, perr := rt.Prune(ctx)
		retErr = errors.Join(retErr, err, berr, perr)
	}()

	img, err := build(ctx, rt, dir, 1)
	if err != nil {
		return err
	}
	if err := runImage(ctx, rt, "build/site:1"); err != nil {
		return err
	}

	// One copied file changes: the steps before its COPY come from the
	// cache, the COPY and the steps after it run again.
	if err := os.WriteFile(filepath.Join(dir, "site/index.html"), []byte("<h1>version 2</h1>\n"), 0o644); err != nil {
		return err
	}
	say("change", "site/index.html: <h1>v1</h1> -> <h1>version 2</h1>")
	img2, err := build(ctx, rt, dir, 2)
	if err != nil {
		return err
	}
	if err := runImage(ctx, rt, "build/site:1"); err != nil {
		return err
	}

	// A file .dockerignore excludes is not part of the build: changing it
	// changes nothing.
	if err := os.WriteFile(filepath.Join(dir, "site/debug.log"), []byte("changed\n"), 0o644); err != nil {
		return err
	}
	say("change", "site/debug.log only, which .dockerignore excludes")
	img3, err := build(ctx, rt, dir, 3)
	if err != nil {
		return err
	}
	say("same", "#3 gave the image of #2: %v (%s; #1 gave %s)", img3.ID() == img2.ID(), short(img2.ID()), short(img.ID()))
	say("done", "removing the images, the build cache and the context")
	return nil
}

// build builds dir as build/site:1, printing one line per step as the
// build reports it, then a summary.
func build(ctx context.Context, rt *hull.Runtime, dir string, n int) (*hull.Image, error) {
	say("build", "#%d of %s", n, dir)
	var mu sync.Mutex // stages build concurrently: events come from several goroutines
	ran, cached := 0, 0
	progress := func(e hull.BuildEvent) {
		mu.Lock()
		defer mu.Unlock()
		n := fmt.Sprintf("%2d/%d %-7s", e.Step, e.Steps, stage(e))
		switch {
		case e.Kind == hull.BuildStepCached:
			cached++
			say("step", "%s cached         %s", n, clip(e.Instruction))
		case e.Kind == hull.BuildStepDone && strings.HasPrefix(e.Instruction, "FROM"):
			say("step", "%s base  %s %s", n, short(e.ImageID), clip(e.Instruction))
		case e.Kind == hull.BuildStepDone && e.ImageID == "":
			say("step", "%s config         %s", n, clip(e.Instruction))
		case e.Kind == hull.BuildStepDone:
			ran++
			say("step", "%s ran    %7s  %s", n, e.Duration.Round(time.Millisecond), clip(e.Instruction))
		case e.Kind == hull.BuildStepOutput:
			say("output", "%s | %s", n, e.Line)
		case e.Kind == hull.BuildNote:
			say("note", "%s", e.Line)
		}
	}
	start := time.Now()
	img, err := rt.Build(ctx, dir, hull.WithTags("build/site:1"), hull.WithBuildProgress(progress))
	if err != nil {
		return nil, err
	}
	took := time.Since(start).Round(time.Millisecond)
	if ran == 0 {
		say("built", "build/site:1 %s in %v: all %d RUN and COPY steps from the cache", short(img.ID()), took, cached)
	} else {
		say("built", "build/site:1 %s in %v: %d RUN and COPY steps ran, %d from the cache", short(img.ID()), took, ran, cached)
	}
	return img, nil
}

// stage names a step's stage as the Dockerfile does; the unnamed last
// stage is "final" here.
func stage(e hull.BuildEvent) string {
	if e.Stage == "1" {
		return "final"
	}
	return e.Stage
}

// clip shortens a long instruction for a line of output.
func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// runImage runs ref's CMD and prints what it printed.
func runImage(ctx context.Context, rt *hull.Runtime, ref string) error {
	var out bytes.Buffer
	c, err := rt.Run(ctx, ref, hull.WithStdout(&out), hull.WithStderr(&out))
	if err != nil {
		return err
	}
	st, err := c.Wait(ctx)
	if err != nil {
		return err
	}
	if err := c.Remove(ctx); err != nil {
		return err
	}
	say("run", "%s: exit %d", ref, st.ExitCode)
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		say("", "  %s", l)
	}
	return nil
}

// writeContext writes the build context into dir.
func writeContext(dir string) error {
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// baseImage makes the FROM image of the Dockerfile from /bin/busybox.
func baseImage(ctx context.Context, rt *hull.Runtime) (*hull.Image, error) {
	rootfs, err := busyboxRootfs()
	if err != nil {
		return nil, err
	}
	return rt.Import(ctx, rootfs, "build/busybox:1",
		hull.WithImportConfig(ocispec.ImageConfig{
			Cmd: []string{"sh"},
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		}))
}

// busyboxRootfs makes a minimal root filesystem tar: the host's static
// busybox and the applets the Dockerfile uses.
func busyboxRootfs() (io.Reader, error) {
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("%w (apt-get install busybox-static)", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "etc/", "proc/", "sys/", "dev/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin))})
	tw.Write(bin)
	for _, a := range []string{"sh", "cat", "echo", "ls", "mkdir", "sleep", "tee", "uname", "wc"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

func say(what, format string, args ...any) {
	fmt.Printf("%-7s %s\n", what, fmt.Sprintf(format, args...))
}

// short is an ID as docker images shows it.
func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
