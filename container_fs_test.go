//go:build linux

package hull

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ranContainer runs cmd in busybox:test to completion and returns the exited container,
// removed when the test ends.
func ranContainer(t *testing.T, rt *Runtime, ref string, cmd ...string) *Container {
	t.Helper()
	var out syncBuffer
	c, err := rt.Run(t.Context(), ref, WithCmd(cmd...), WithStdout(&out), WithStderr(&out))
	if c != nil {
		t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
	}
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Wait(t.Context())
	if err != nil || st.ExitCode != 0 {
		t.Fatalf("exit %+v, %v: %s", st, err, out.String())
	}
	return c
}

// tarNames lists a tar stream's entry names.
func tarNames(t *testing.T, r io.Reader) map[string]*tar.Header {
	t.Helper()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(hdr.Name, "/")] = hdr
	}
}

const changeScript = "echo hi > /hello && ln /hello /hello2 && rm /etc/group && echo x >> /etc/passwd && mkdir -p /data/sub && echo d > /data/sub/f && rm -r /home/app"

func TestContainerCommit(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	base, err := rt.Image(t.Context(), "busybox:test")
	if err != nil {
		t.Fatal(err)
	}
	c := ranContainer(t, rt, "busybox:test", "sh", "-c", changeScript)
	img, err := c.Commit(t.Context(), "busybox:committed",
		WithCommitEnv("FOO=bar"), WithCommitLabels(map[string]string{"k": "v"}),
		WithCommitCmd("sh", "-c", `cat /hello; echo $FOO; test -e /etc/group || echo nogroup; test -d /home/app || echo noapp; stat -c %h /hello`),
		WithCommitExposedPorts("80"), WithCommitMessage("snap"), WithCommitAuthor("me"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(img.Layers()), len(base.Layers())+1; got != want {
		t.Fatalf("%d layers, want %d", got, want)
	}
	cfg := img.Config()
	if cfg.Labels["k"] != "v" || !slices.Contains(cfg.Env, "FOO=bar") || !slices.Contains(cfg.Env, testutil.DefaultPath) {
		t.Errorf("config %+v", cfg)
	}
	if _, ok := cfg.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("exposed ports %v", cfg.ExposedPorts)
	}
	h := img.History()
	if len(h) != len(base.History())+1 || h[len(h)-1].Comment != "snap" || img.OCIConfig().Author != "me" {
		t.Errorf("history %+v", h)
	}
	if tags := img.RepoTags(); !slices.Equal(tags, []string{"busybox:committed"}) {
		t.Errorf("tags %v", tags)
	}
	// The new image runs and shows the changes.
	var out syncBuffer
	c2, err := rt.Run(t.Context(), "busybox:committed", WithStdout(&out), WithStderr(&out))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Remove(t.Context(), WithForce())
	if st, err := c2.Wait(t.Context()); err != nil || st.ExitCode != 0 {
		t.Fatalf("exit %+v %v: %s", st, err, out.String())
	}
	if got := out.String(); got != "hi\nbar\nnogroup\nnoapp\n2\n" {
		t.Errorf("committed image ran with output %q", got)
	}
	// Untagged commit.
	img2, err := c.Commit(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(img2.RepoTags()) != 0 || img2.Config().Labels["k"] != "" {
		t.Errorf("untagged commit: tags %v config %+v", img2.RepoTags(), img2.Config())
	}
}

func TestCommitOptions(t *testing.T) {
	t.Parallel()
	var cfg commitConfig
	for _, o := range []CommitOption{WithCommitEntrypoint("/bin/app"), WithCommitWorkdir("sub"), WithCommitUser("app"), WithCommitEnv("A=2")} {
		if err := o(&cfg); err != nil {
			t.Fatal(err)
		}
	}
	base := cfgWith()
	got := cfg.change.Apply(base)
	if got.Cmd != nil || !slices.Equal(got.Entrypoint, []string{"/bin/app"}) || got.WorkingDir != "/w/sub" || got.User != "app" || !slices.Equal(got.Env, []string{"A=2", "B=1"}) {
		t.Errorf("apply: %+v", got)
	}
	if base.Env[0] != "A=1" {
		t.Error("apply changed its base")
	}
	for _, bad := range []CommitOption{WithCommitEnv("novalue"), WithCommitExposedPorts("http"), WithCommitWorkdir("")} {
		if err := bad(&cfg); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("bad option: %v", err)
		}
	}
}

func TestContainerDiffExport(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c := ranContainer(t, rt, "busybox:test", "sh", "-c", changeScript)
	changes, err := c.Diff(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, ch := range changes {
		got[ch.Path] = ch.Kind.String()
	}
	for p, want := range map[string]string{
		"/hello": "A", "/hello2": "A", "/data": "A", "/data/sub/f": "A",
		"/etc": "C", "/etc/passwd": "C", "/etc/group": "D", "/home/app": "D", "/home": "C",
	} {
		if got[p] != want {
			t.Errorf("diff %s: %q, want %q (all: %v)", p, got[p], want, changes)
		}
	}
	for _, p := range []string{"/bin/busybox", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname"} {
		if _, ok := got[p]; ok {
			t.Errorf("diff lists %s, unchanged or a mount point", p)
		}
	}

	var buf bytes.Buffer
	if err := c.Export(t.Context(), &buf); err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, &buf)
	for _, p := range []string{"hello", "data/sub/f", "bin/busybox", "etc/passwd"} {
		if names[p] == nil {
			t.Errorf("export lacks %s", p)
		}
	}
	for _, p := range []string{"etc/group", "home/app"} {
		if names[p] != nil {
			t.Errorf("export has deleted %s", p)
		}
	}
	if h := names["hello2"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "hello" {
		t.Errorf("hardlink exported as %+v", h)
	}
}

func TestContainerCopy(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	outside := t.TempDir()
	c := ranContainer(t, rt, "busybox:test", "sh", "-c",
		"mkdir -p /srv && echo s > /srv/file && ln -s "+outside+" /escape && ln -s ../../../../.. /up")

	// From the container.
	rc, err := c.CopyFrom(t.Context(), "/srv")
	if err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, rc)
	rc.Close()
	if names["srv"] == nil || names["srv/file"] == nil || len(names) != 2 {
		t.Errorf("CopyFrom /srv: %v", slices.Sorted(maps.Keys(names)))
	}
	if _, err := c.CopyFrom(t.Context(), "/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CopyFrom of a missing path: %v", err)
	}

	tarOf := func(files ...testutil.File) io.Reader { return bytes.NewReader(testutil.TarBytes(t, files)) }
	// Into a stopped container: visible when it runs again.
	if err := c.CopyTo(t.Context(), "/srv", tarOf(testutil.File{Name: "new", Mode: 0o644, Body: []byte("n")})); err != nil {
		t.Fatal(err)
	}
	// Hostile: the destination or an entry goes through a symlink pointing outside.
	hostile := []struct {
		dst   string
		files []testutil.File
	}{
		{"/escape", []testutil.File{{Name: "pwned", Mode: 0o644, Body: []byte("x")}}},
		{"/", []testutil.File{{Name: "escape/pwned", Mode: 0o644, Body: []byte("x")}}},
		{"/up", []testutil.File{{Name: "pwned", Mode: 0o644, Body: []byte("x")}}},
	}
	for _, h := range hostile {
		_ = c.CopyTo(t.Context(), h.dst, tarOf(h.files...)) // an error or a write inside
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("CopyTo wrote outside the container: %v", ents)
	}
	if _, err := os.Stat("/pwned"); err == nil {
		t.Fatal("CopyTo wrote to the host's root")
	}

	// Into a running container, through its own view.
	var out syncBuffer
	c2, err := rt.Run(t.Context(), "busybox:test", WithStdout(&out),
		// It waits for the entry after "in": a file exists before its
		// content is written.
		WithCmd("sh", "-c", "ln -s "+outside+" /escape; touch /ready; while [ ! -e /srv2/done ]; do sleep 0.01; done; cat /srv2/in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Remove(t.Context(), WithForce())
	for i := 0; ; i++ {
		rc, err := c2.CopyFrom(t.Context(), "/ready")
		if err == nil {
			rc.Close()
			break
		}
		if i > 500 {
			t.Fatal("container never got ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = c2.CopyTo(t.Context(), "/escape", tarOf(testutil.File{Name: "pwned", Mode: 0o644, Body: []byte("x")}))
	if err := c2.CopyTo(t.Context(), "/", tarOf(testutil.File{Name: "srv2/in", Mode: 0o644, Body: []byte("copied\n")}, testutil.File{Name: "srv2/done", Mode: 0o644})); err != nil {
		t.Fatal(err)
	}
	if st, err := c2.Wait(t.Context()); err != nil || st.ExitCode != 0 || out.String() != "copied\n" {
		t.Errorf("running container: %+v %v %q", st, err, out.String())
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("CopyTo wrote outside the running container: %v", ents)
	}

	// The stopped container's copy landed in its filesystem.
	rc, err = c.CopyFrom(t.Context(), "/srv/new")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if names := tarNames(t, rc); names["new"] == nil {
		t.Errorf("copied file not in the container: %v", names)
	}
	if _, err := os.Stat(filepath.Join(rt.containerDir(c.ID()), "upper", "srv", "new")); err != nil {
		t.Errorf("copied file not in the upper dir: %v", err)
	}
}

func cfgWith() ocispec.ImageConfig {
	return ocispec.ImageConfig{Cmd: []string{"sh"}, Env: []string{"A=1", "B=1"}, WorkingDir: "/w"}
}

func TestContainerCommitRunning(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sh", "-c", "echo live > /live; touch /ready; exec sleep 60"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(t.Context(), WithForce())
	for i := 0; ; i++ {
		if rc, err := c.CopyFrom(t.Context(), "/ready"); err == nil {
			rc.Close()
			break
		}
		if i > 500 {
			t.Fatal("container never got ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	evs, err := rt.Events(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(t.Context(), "live:1", WithCommitCmd("cat", "/live")); err != nil {
		t.Fatal(err)
	}
	if st := inspect(t, c).State.Status; st != StatusRunning {
		t.Errorf("after commit the container is %s, want running", st)
	}
	if got := actions(nextEvents(t, evs, 3)); !slices.Equal(got, []string{"container pause", "container unpause", "container commit"}) {
		t.Errorf("events %q", got)
	}
	var buf syncBuffer
	c2, err := rt.Run(t.Context(), "live:1", WithStdout(&buf))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Remove(t.Context(), WithForce())
	if _, err := c2.Wait(t.Context()); err != nil || buf.String() != "live\n" {
		t.Errorf("committed image: %v %q", err, buf.String())
	}
}

// TestContainerCopyHost copies a directory out of a container onto the
// host and back into another place of the container, as `docker cp` does
// both ways (the CLI's cp uses these).
func TestContainerCopyHost(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c := ranContainer(t, rt, "busybox:test", "sh", "-c", "mkdir -p /srv/sub && echo s > /srv/sub/file")
	host := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(host, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.CopyToHost(t.Context(), "/srv", host); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(host, "srv", "sub", "file")); err != nil || string(data) != "s\n" {
		t.Fatalf("CopyToHost: %q, %v", data, err)
	}
	if err := c.CopyToHost(t.Context(), "/nope", host); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CopyToHost of a missing path: %v", err)
	}
	if err := c.CopyFromHost(t.Context(), filepath.Join(host, "srv"), "/tmp"); err != nil {
		t.Fatal(err)
	}
	rc, err := c.CopyFrom(t.Context(), "/tmp/srv/sub/file")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if names := tarNames(t, rc); names["file"] == nil || len(names) != 1 {
		t.Errorf("CopyFromHost then CopyFrom: %v", slices.Sorted(maps.Keys(names)))
	}
}
