package hull_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/hullbox/hull"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
)

// The runnable examples run real containers: they need Linux, root and
// Debian's busybox-static, as the rest of the suite (TestMain skips them
// where those are missing). Each one works in a state root of its own,
// made here, so that what it prints does not depend on the machine.

// exampleRoot makes a new state root holding the image "busybox" (the
// host's static busybox with its applets, Cmd ["sh"]) and returns it with a
// func that removes it. A program of yours would Pull an image instead.
func exampleRoot() (root string, done func()) {
	ctx := context.Background()
	root, err := os.MkdirTemp("", "hull-example-")
	if err != nil {
		log.Fatal(err)
	}
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	rootfs, err := busyboxRootfs()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := rt.Import(ctx, rootfs, "busybox", hull.WithImportConfig(ocispec.ImageConfig{
		Cmd: []string{"sh"},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	})); err != nil {
		log.Fatal(err)
	}
	return root, func() { os.RemoveAll(root) }
}

// busyboxRootfs is a root filesystem tar of /bin/busybox, a link per
// applet the examples use, and the directories a container expects.
func busyboxRootfs() (io.Reader, error) {
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "etc/", "proc/", "sys/", "dev/", "root/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin))})
	tw.Write(bin)
	for _, a := range []string{"sh", "cat", "echo", "ls", "sleep", "httpd", "wget", "mkdir", "hostname", "true", "false", "seq", "touch"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// exampleRegistry serves an in-memory registry (distribution's) on a free
// port of 127.0.0.1 and returns its host:port and a func that stops it.
// hull talks plain HTTP to localhost registries, as Docker does.
func exampleRegistry() (host string, stop func()) {
	logrus.SetOutput(io.Discard)
	conf := &configuration.Configuration{Storage: configuration.Storage{
		"inmemory":    configuration.Parameters{},
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
	}}
	conf.HTTP.Secret = "hull-example"
	app := handlers.NewApp(context.Background(), conf)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: app}
	go srv.Serve(l)
	return l.Addr().String(), func() { srv.Close(); app.Shutdown() }
}
