// Command quickstart is hull's first hour in one program: it makes an
// image, runs a web server from it with a volume and a published port,
// execs into it, reads its logs, commits it as a new image, and removes
// everything it made. It needs Linux, root and nothing else: with no
// -image, the image is made on the spot from the host's static busybox
// (Debian's busybox-static), so no network is used.
//
//	sudo apt-get install -y busybox-static
//	sudo go run ./examples/quickstart
//	sudo go run ./examples/quickstart -image docker.io/library/busybox:1.37
//
// Any image with busybox's sh and httpd will do for -image. The state
// root is a temporary directory, removed at the end, unless -root names
// one (the default of the library is /var/lib/hull).
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
	"strings"
	"time"

	"github.com/hullbox/hull"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func main() {
	image := flag.String("image", "", "image to pull and run (default: one made from /bin/busybox)")
	root := flag.String("root", "", "state root (default: a temporary directory, removed at the end)")
	flag.Parse()
	log.SetFlags(0)
	if err := run(context.Background(), *image, *root); err != nil {
		log.Fatal("quickstart: ", err)
	}
}

func run(ctx context.Context, ref, root string) (retErr error) {
	if root == "" {
		dir, err := os.MkdirTemp("", "hull-quickstart-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		root = dir
	}
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		return err
	}
	// Close ends the containers this process still owns (none, if all
	// goes well: they are removed below).
	defer func() { retErr = errors.Join(retErr, rt.Close()) }()

	img, err := image(ctx, rt, ref)
	if err != nil {
		return err
	}
	ref = img.RepoTags()[0]
	say("image", "%s %s, %.1f MB", ref, short(img.ID()), float64(img.Size())/1e6)

	vol, err := rt.CreateVolume(ctx, "site")
	if err != nil {
		return err
	}
	defer vol.Remove(ctx) // after the container's removal (defers run last first)
	say("volume", "%s at %s", vol.Name(), vol.Mountpoint())

	// A container is owned by this process: if it dies, so does the
	// container. WithInit gives it an init that forwards Stop's SIGTERM.
	c, err := rt.Run(ctx, ref,
		hull.WithName("web"),
		hull.WithVolume(vol, "/www"),
		hull.WithPublish("127.0.0.1::80"), // a free port on the host's loopback
		hull.WithInit(),
		hull.WithCmd("sh", "-c", "echo starting httpd; exec httpd -f -v -p 80 -h /www"))
	if err != nil {
		return err
	}
	defer c.Remove(ctx, hull.WithForce())
	in, err := c.Inspect(ctx)
	if err != nil {
		return err
	}
	p := in.NetworkSettings.Ports[0]
	url := fmt.Sprintf("http://%s:%d/", p.HostIP, p.HostPort)
	say("run", "%s (%s) on %s, 80/tcp published at %s", c.Name(), short(c.ID()), in.NetworkSettings.IPAddress, url)

	var out bytes.Buffer
	res, err := c.Exec(ctx, []string{"sh", "-c",
		"echo 'hello from a hull container' > /www/index.html && echo built by quickstart > /etc/motd && cat /www/index.html"},
		hull.WithExecStdout(&out), hull.WithExecStderr(&out))
	if err != nil {
		return err
	}
	say("exec", "wrote /www/index.html and /etc/motd: exit %d, %q", res.ExitCode, strings.TrimSpace(out.String()))

	status, body, err := get(ctx, url)
	if err != nil {
		return err
	}
	say("http", "GET %s: %s %q", url, status, strings.TrimSpace(body))

	// httpd logs the request after it has answered it: give its line a
	// moment to reach the log.
	var logs bytes.Buffer
	for deadline := time.Now().Add(2 * time.Second); ; {
		logs.Reset()
		if err := c.Logs(ctx, hull.WithLogsStdout(&logs), hull.WithLogsStderr(&logs)); err != nil {
			return err
		}
		if strings.Contains(logs.String(), "response") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		say("logs", "%s", l)
	}

	// The volume is not part of the commit (as with docker commit); the
	// file written to the container's own filesystem is.
	snap, err := c.Commit(ctx, "quickstart/web:1",
		hull.WithCommitCmd("cat", "/etc/motd"), hull.WithCommitMessage("quickstart"))
	if err != nil {
		return err
	}
	defer rt.RemoveImage(ctx, "quickstart/web:1")
	say("commit", "%s -> quickstart/web:1 %s, %d layers", c.Name(), short(snap.ID()), len(snap.Layers()))

	var motd bytes.Buffer
	c2, err := rt.Run(ctx, "quickstart/web:1", hull.WithStdout(&motd))
	if err != nil {
		return err
	}
	st, err := c2.Wait(ctx)
	if err != nil {
		return err
	}
	if err := c2.Remove(ctx); err != nil {
		return err
	}
	say("run", "quickstart/web:1: exit %d, %q", st.ExitCode, strings.TrimSpace(motd.String()))

	if err := c.Stop(ctx, 5*time.Second); err != nil {
		return err
	}
	st, err = c.Wait(ctx)
	if err != nil {
		return err
	}
	say("stop", "%s: exit %d (SIGTERM, forwarded by the init)", c.Name(), st.ExitCode)
	say("done", "removing the container, the volume and the images")
	return nil
}

// image pulls ref, or makes an image from /bin/busybox when ref is empty.
func image(ctx context.Context, rt *hull.Runtime, ref string) (*hull.Image, error) {
	if ref != "" {
		return rt.Pull(ctx, ref)
	}
	rootfs, err := busyboxRootfs()
	if err != nil {
		return nil, err
	}
	return rt.Import(ctx, rootfs, "quickstart/busybox:1",
		hull.WithImportConfig(ocispec.ImageConfig{
			Cmd: []string{"sh"},
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		}))
}

// busyboxRootfs makes a minimal root filesystem tar: the host's static
// busybox and the applets this program uses.
func busyboxRootfs() (io.Reader, error) {
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("%w (apt-get install busybox-static, or give -image)", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "etc/", "proc/", "sys/", "dev/", "www/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin))})
	tw.Write(bin)
	for _, a := range []string{"sh", "cat", "echo", "httpd", "sleep", "wget"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
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
