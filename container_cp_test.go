//go:build linux

package hull

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestCopyDockerRules is item 6 of issue 16: CopyToHost and CopyFromHost
// (and so `hull cp`) land where `docker cp` does: into an existing
// directory under the source's name (only the contents for a source
// ending in "/."), as the destination's name when it is a file or does
// not exist, and refuse a missing directory ("dst/"), a directory over a
// file and a file source ending in "/". In a running container (its own
// view of its root) and a stopped one (the merged view of its layers).
func TestCopyDockerRules(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c := sleeper(t, rt)
	sh := func(script string) string {
		t.Helper()
		var out bytes.Buffer
		res, err := c.Exec(t.Context(), []string{"sh", "-c", script}, WithExecStdout(&out), WithExecStderr(&out))
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("%s: %+v %v %s", script, res, err, out.String())
		}
		return out.String()
	}
	sh("mkdir -p /srv/sub /into && echo s > /srv/sub/file && echo F > /f && echo old > /victim")
	h := t.TempDir()
	hostFile := filepath.Join(h, "hostfile")
	hostDir := filepath.Join(h, "hostdir")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(hostFile, []byte("H\n"), 0o644))
	must(os.MkdirAll(filepath.Join(hostDir, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(hostDir, "sub", "file"), []byte("h\n"), 0o644))
	must(os.WriteFile(filepath.Join(h, "existing"), []byte("old\n"), 0o644))
	must(os.Mkdir(filepath.Join(h, "contents"), 0o755))
	read := func(p string) string {
		t.Helper()
		data, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%v", err)
		}
		return string(data)
	}

	// Out of the container.
	must(c.CopyToHost(t.Context(), "/f", h))
	must(c.CopyToHost(t.Context(), "/f", filepath.Join(h, "renamed")))
	must(c.CopyToHost(t.Context(), "/f", filepath.Join(h, "existing")))
	must(c.CopyToHost(t.Context(), "/srv", h))
	must(c.CopyToHost(t.Context(), "/srv", filepath.Join(h, "newdir")))
	must(c.CopyToHost(t.Context(), "/srv/.", filepath.Join(h, "contents")))
	for p, want := range map[string]string{
		"f": "F\n", "renamed": "F\n", "existing": "F\n", "srv/sub/file": "s\n", "newdir/sub/file": "s\n", "contents/sub/file": "s\n",
	} {
		if got := read(filepath.Join(h, p)); got != want {
			t.Errorf("CopyToHost: %s holds %q, want %q", p, got, want)
		}
	}
	for _, tc := range []struct{ src, dst string }{
		{"/f", filepath.Join(h, "nodir") + "/"},
		{"/srv", filepath.Join(h, "existing")},
		{"/f/", h},
		{"/f", filepath.Join(h, "no", "parent")},
		{"/nope", h},
	} {
		if err := c.CopyToHost(t.Context(), tc.src, tc.dst); err == nil {
			t.Errorf("CopyToHost %s %s: no error", tc.src, tc.dst)
		}
	}
	if err := c.CopyToHost(t.Context(), "/nope", h); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CopyToHost of a missing path: %v", err)
	}

	// Into the container.
	must(c.CopyFromHost(t.Context(), hostFile, "/into"))
	must(c.CopyFromHost(t.Context(), hostFile, "/into/renamed"))
	must(c.CopyFromHost(t.Context(), hostFile, "/victim"))
	must(c.CopyFromHost(t.Context(), hostDir, "/into"))
	must(c.CopyFromHost(t.Context(), hostDir, "/into/newdir"))
	must(c.CopyFromHost(t.Context(), hostDir+"/.", "/srv"))
	got := sh("cat /into/hostfile /into/renamed /victim /into/hostdir/sub/file /into/newdir/sub/file /srv/sub/file")
	if got != "H\nH\nH\nh\nh\nh\n" {
		t.Errorf("CopyFromHost: %q", got)
	}
	for _, tc := range []struct{ src, dst string }{
		{hostFile, "/nodir/"},
		{hostDir, "/f"},
		{hostFile + "/", "/into"},
		{hostFile, "/no/parent"},
	} {
		if err := c.CopyFromHost(t.Context(), tc.src, tc.dst); err == nil {
			t.Errorf("CopyFromHost %s %s: no error", tc.src, tc.dst)
		}
	}

	// A stopped container: the destination is looked up in its layers.
	if err := c.Kill(t.Context(), 9); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	must(c.CopyFromHost(t.Context(), hostFile, "/into/stopped"))
	must(c.CopyFromHost(t.Context(), hostFile, "/srv"))
	must(c.CopyToHost(t.Context(), "/into/stopped", filepath.Join(h, "stopped")))
	must(c.CopyToHost(t.Context(), "/srv/hostfile", filepath.Join(h, "stopped2")))
	if read(filepath.Join(h, "stopped")) != "H\n" || read(filepath.Join(h, "stopped2")) != "H\n" {
		t.Errorf("copies of a stopped container went astray")
	}
}

// TestInitLayer is item 6 of issue 16: every container has Docker's init
// layer over its image: /etc/mtab -> /proc/mounts, and the mount points
// of /etc/hostname, /etc/hosts, /etc/resolv.conf, /dev, /proc and /sys,
// so that its start writes none of them into its upper directory; its
// export has them, as Docker's has.
func TestInitLayer(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c := ranContainer(t, rt, "busybox:test", "sh", "-c", "readlink /etc/mtab; grep -c ' / overlay ' /etc/mtab")
	var out bytes.Buffer
	if err := c.Logs(t.Context(), WithLogsStdout(&out)); err != nil || out.String() != "/proc/mounts\n1\n" {
		t.Errorf("in the container: %q %v", out.String(), err)
	}
	upper, _ := c.layerDirs()
	for _, p := range []string{"etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab", "dev", "proc", "sys"} {
		if _, err := os.Lstat(filepath.Join(upper, p)); err == nil {
			t.Errorf("the start made %s in the upper directory", p)
		}
	}
	var tarball bytes.Buffer
	if err := c.Export(t.Context(), &tarball); err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, &tarball)
	if h := names["etc/mtab"]; h == nil || h.Linkname != "/proc/mounts" {
		t.Errorf("export: etc/mtab is %+v", h)
	}
	for _, p := range []string{"etc/hostname", "etc/hosts", "etc/resolv.conf", "proc", "sys", "dev"} {
		if names[p] == nil {
			t.Errorf("export lacks %s", p)
		}
	}
}
