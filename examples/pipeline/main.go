// Command pipeline is a small CI job written with hull: build-like steps
// run in containers that share a volume, the result is committed as an
// image, tagged and pushed to a registry, then pulled into a second state
// root and carried by `docker save`/`docker load` archive into a third,
// where it runs again. Each root stands for another machine.
//
//	sudo go run ./examples/pipeline                          # an in-process registry on 127.0.0.1
//	sudo go run ./examples/pipeline -registry localhost:5000 # a registry of yours
//
// The base image is made from the host's static busybox (Debian's
// busybox-static), so nothing but the registry's loopback is used.
// Plain HTTP is used for localhost and 127.0.0.1 registries only, as
// Docker does; -insecure allows it for another host.
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
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/hullbox/hull"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
)

func main() {
	registry := flag.String("registry", "", "registry host[:port] to push to (default: an in-process one on 127.0.0.1)")
	insecure := flag.Bool("insecure", false, "use plain HTTP with -registry even if it is not on localhost")
	dir := flag.String("dir", "", "directory for the three state roots and the archive (default: a temporary one, removed)")
	flag.Parse()
	log.SetFlags(0)
	if err := run(context.Background(), *registry, *insecure, *dir); err != nil {
		log.Fatal("pipeline: ", err)
	}
}

func run(ctx context.Context, registry string, insecure bool, dir string) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "hull-pipeline-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if registry == "" {
		host, stop, err := startRegistry()
		if err != nil {
			return err
		}
		defer stop()
		registry = host
		say("registry", "in-process at %s", host)
	}
	var opts []hull.Option
	if insecure {
		opts = append(opts, hull.WithInsecureRegistry(registry))
	}
	ref := registry + "/pipeline/app:1"
	if err := buildAndPush(ctx, filepath.Join(dir, "builder"), ref, opts); err != nil {
		return fmt.Errorf("builder: %w", err)
	}
	archive := filepath.Join(dir, "app.tar")
	if err := pullAndSave(ctx, filepath.Join(dir, "staging"), ref, archive, opts); err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	if err := loadAndRun(ctx, filepath.Join(dir, "production"), archive); err != nil {
		return fmt.Errorf("production: %w", err)
	}
	return nil
}

// buildAndPush is the build machine: checkout, test and build steps in
// containers sharing a volume, then commit, tag and push.
func buildAndPush(ctx context.Context, root, ref string, opts []hull.Option) (retErr error) {
	rt, err := hull.Open(ctx, append(opts, hull.WithRoot(root))...)
	if err != nil {
		return err
	}
	defer func() { retErr = errors.Join(retErr, rt.Close()) }()

	rootfs, err := busyboxRootfs()
	if err != nil {
		return err
	}
	if _, err := rt.Import(ctx, rootfs, "pipeline/base:1", hull.WithImportConfig(ocispec.ImageConfig{
		Cmd: []string{"sh"},
		Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
	})); err != nil {
		return err
	}
	src, err := rt.CreateVolume(ctx, "src")
	if err != nil {
		return err
	}
	// The workspace: every step mounts it at /src.
	steps := []struct{ name, script string }{
		{"checkout", `mkdir -p /src/bin && cat > /src/bin/app <<'EOF'
#!/bin/sh
echo "app $(cat /usr/local/share/app/VERSION) on $(uname -s), args: $*"
EOF
echo 1.0.0 > /src/VERSION && chmod +x /src/bin/app && ls /src`},
		{"test", `out=$(sh -c 'mkdir -p /usr/local/share/app && cp /src/VERSION /usr/local/share/app/ && /src/bin/app test') && echo "$out" && case "$out" in *"app 1.0.0"*) ;; *) exit 1;; esac`},
	}
	for _, s := range steps {
		if err := step(ctx, rt, src, s.name, s.script); err != nil {
			return err
		}
	}
	// The build step's container is kept: its filesystem becomes the image.
	var out bytes.Buffer
	c, err := rt.Run(ctx, "pipeline/base:1", hull.WithName("build"),
		hull.WithVolume(src, "/src", hull.WithReadOnly()),
		hull.WithStdout(&out), hull.WithStderr(&out),
		hull.WithCmd("sh", "-c", "mkdir -p /usr/local/bin /usr/local/share/app && cp /src/bin/app /usr/local/bin/ && cp /src/VERSION /usr/local/share/app/"))
	if err != nil {
		return err
	}
	defer c.Remove(ctx)
	if st, err := c.Wait(ctx); err != nil || st.ExitCode != 0 {
		return fmt.Errorf("step build: exit %d, %v: %s", st.ExitCode, err, out.String())
	}
	img, err := c.Commit(ctx, ref,
		hull.WithCommitEntrypoint("app"), hull.WithCommitCmd("--help"),
		hull.WithCommitLabels(map[string]string{"org.opencontainers.image.version": "1.0.0"}),
		hull.WithCommitMessage("pipeline build"))
	if err != nil {
		return err
	}
	say("commit", "build -> %s %s, %d layers", ref, short(img.ID()), len(img.Layers()))
	latest := strings.TrimSuffix(ref, ":1") + ":latest"
	if err := rt.Tag(ctx, ref, latest); err != nil {
		return err
	}
	for _, r := range []string{ref, latest} {
		if err := rt.Push(ctx, r); err != nil {
			return err
		}
	}
	tags, err := rt.RemoteTags(ctx, strings.TrimSuffix(ref, ":1"))
	if err != nil {
		return err
	}
	say("push", "%s and :latest; the registry's tags: %s", ref, strings.Join(tags, " "))
	return nil
}

// step runs one script in a fresh container with the workspace volume and
// fails unless it exits 0.
func step(ctx context.Context, rt *hull.Runtime, src *hull.Volume, name, script string) error {
	var out bytes.Buffer
	c, err := rt.Run(ctx, "pipeline/base:1", hull.WithName(name),
		hull.WithVolume(src, "/src"), hull.WithStdout(&out), hull.WithStderr(&out),
		hull.WithCmd("sh", "-ec", script))
	if err != nil {
		return err
	}
	defer c.Remove(ctx)
	st, err := c.Wait(ctx)
	if err != nil {
		return err
	}
	if st.ExitCode != 0 {
		return fmt.Errorf("step %s: exit %d: %s", name, st.ExitCode, out.String())
	}
	say("step", "%s: exit 0, %q", name, strings.Join(strings.Fields(out.String()), " "))
	return nil
}

// pullAndSave is a second machine: it pulls the image, runs it, and saves
// it to an archive.
func pullAndSave(ctx context.Context, root, ref, archive string, opts []hull.Option) (retErr error) {
	rt, err := hull.Open(ctx, append(opts, hull.WithRoot(root))...)
	if err != nil {
		return err
	}
	defer func() { retErr = errors.Join(retErr, rt.Close()) }()
	img, err := rt.Pull(ctx, ref)
	if err != nil {
		return err
	}
	say("pull", "%s into a second root: %s, digest %s", ref, short(img.ID()), img.Digest())
	if err := runApp(ctx, rt, ref, "staging"); err != nil {
		return err
	}
	f, err := os.Create(archive)
	if err != nil {
		return err
	}
	if err := rt.Save(ctx, f, ref); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fi, err := os.Stat(archive)
	if err != nil {
		return err
	}
	say("save", "%s to %s, %.1f MB", ref, filepath.Base(archive), float64(fi.Size())/1e6)
	return nil
}

// loadAndRun is a third machine, with no access to the registry.
func loadAndRun(ctx context.Context, root, archive string) (retErr error) {
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		return err
	}
	defer func() { retErr = errors.Join(retErr, rt.Close()) }()
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	imgs, err := rt.Load(ctx, f)
	if err != nil {
		return err
	}
	for _, img := range imgs {
		say("load", "%s into a third root: %s", strings.Join(img.RepoTags(), " "), short(img.ID()))
		if err := runApp(ctx, rt, img.RepoTags()[0], "production"); err != nil {
			return err
		}
	}
	return nil
}

// runApp runs the built image once and prints its output.
func runApp(ctx context.Context, rt *hull.Runtime, ref, where string) error {
	var out bytes.Buffer
	c, err := rt.Run(ctx, ref, hull.WithCmd(where), hull.WithStdout(&out))
	if err != nil {
		return err
	}
	defer c.Remove(ctx)
	st, err := c.Wait(ctx)
	if err != nil {
		return err
	}
	say("run", "%s: exit %d, %q", where, st.ExitCode, strings.TrimSpace(out.String()))
	if st.ExitCode != 0 {
		return fmt.Errorf("%s exited %d", ref, st.ExitCode)
	}
	return nil
}

// startRegistry serves distribution's registry, in memory, on a free port
// of 127.0.0.1 until stop is called.
func startRegistry() (host string, stop func(), err error) {
	logrus.SetOutput(io.Discard) // distribution logs every request
	conf := &configuration.Configuration{Storage: configuration.Storage{
		"inmemory": configuration.Parameters{},
		// Its type must be map[any]any. Off, else the app starts a purger.
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
	}}
	conf.HTTP.Secret = "hull-pipeline-example"
	app := handlers.NewApp(context.Background(), conf)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: app}
	go srv.Serve(l)
	return l.Addr().String(), func() { srv.Close(); app.Shutdown() }, nil
}

// busyboxRootfs makes a minimal root filesystem tar around the host's
// static busybox.
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
	for _, a := range []string{"sh", "cat", "cp", "chmod", "echo", "ls", "mkdir", "uname"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

func say(what, format string, args ...any) {
	fmt.Printf("%-8s %s\n", what, fmt.Sprintf(format, args...))
}

// short is an ID as docker images shows it.
func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
