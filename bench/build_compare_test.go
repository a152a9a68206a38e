//go:build linux

package bench

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hullbox/hull"
)

// compareDockerfile uses every instruction whose result the image keeps.
const compareDockerfile = `FROM ` + busyboxRef + `
ENV A=1 B="two words"
LABEL k=v other="x y"
WORKDIR /app
COPY a.txt ./
COPY dir/ /app/dir/
COPY --chown=1000:1000 a.txt /owned/a.txt
ADD arch.tar /unpacked/
RUN echo hi > /app/run.txt && mkdir -p /data && chmod 700 /data
USER 1000:1000
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD true
ONBUILD RUN echo child
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hello"]
`

// TestBuildMatchesDocker builds the same Dockerfile with hull and with
// `docker build` (a private dockerd, the legacy builder) and compares the
// image configs (Cmd, Entrypoint, Env, WorkingDir, User, ExposedPorts,
// Volumes, Labels, Healthcheck, StopSignal, OnBuild) and the file trees
// (names, types, modes, owners, sizes, contents, link targets; not times).
func TestBuildMatchesDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dockerd")
	}
	needRoot(t)
	needDocker(t)
	tarball := busyboxTar(t)
	dockerBusybox(t, tarball)
	dir := compareContext(t)
	ctx := context.Background()

	rt := hullBusybox(t, tarball)
	img, err := rt.Build(ctx, dir, hull.WithTags("cmp:hull"))
	if err != nil {
		t.Fatal(err)
	}
	var saved bytes.Buffer
	if err := rt.Save(ctx, &saved, "cmp:hull"); err != nil {
		t.Fatal(err)
	}
	hullConf := savedConfig(t, saved.Bytes())
	c, err := rt.Create(ctx, img.ID(), hull.WithNetworkMode(hull.NetworkModeNone))
	if err != nil {
		t.Fatal(err)
	}
	var hullTree bytes.Buffer
	err = c.Export(ctx, &hullTree)
	c.Remove(ctx, hull.WithForce())
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("docker", "build", "-q", "--network", "none", "-t", "cmp:docker", dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	var dockerConf map[string]any
	if err := json.Unmarshal([]byte(output(t, "docker", "image", "inspect", "--format", "{{json .Config}}", "cmp:docker")), &dockerConf); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(output(t, "docker", "create", "--network", "none", "cmp:docker"))
	defer exec.Command("docker", "rm", "-f", id).Run()
	dockerTree := output(t, "docker", "export", id)

	for _, k := range []string{"Cmd", "Entrypoint", "Env", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels", "Healthcheck", "StopSignal", "OnBuild"} {
		h, d := empty(hullConf[k]), empty(dockerConf[k])
		if !reflect.DeepEqual(h, d) {
			t.Errorf("config %s: hull %v, docker %v", k, h, d)
		}
	}
	ht, dt := treeOf(t, hullTree.Bytes()), treeOf(t, []byte(dockerTree))
	t.Logf("%d entries (docker %d); hull config %v; owned %q unpacked %q", len(ht), len(dt), hullConf, ht["owned/a.txt"], ht["unpacked/sub/run.sh"])
	for _, name := range union(ht, dt) {
		if ht[name] != dt[name] {
			t.Errorf("/%s: hull %q, docker %q", name, ht[name], dt[name])
		}
	}
}

// compareContext writes the comparison's context.
func compareContext(t testing.TB) string {
	dir := freshDir(t)
	t.Cleanup(func() { os.RemoveAll(dir) })
	var arch bytes.Buffer
	tw := tar.NewWriter(&arch)
	for _, f := range []struct {
		name string
		mode int64
		body string
	}{{"top.txt", 0o644, "top\n"}, {"sub/", 0o750, ""}, {"sub/run.sh", 0o755, "#!/bin/sh\n"}} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg, Uid: 12, Gid: 34}
		if strings.HasSuffix(f.name, "/") {
			hdr.Typeflag = tar.TypeDir
		}
		tw.WriteHeader(hdr)
		io.WriteString(tw, f.body)
	}
	tw.Close()
	files := map[string]string{"Dockerfile": compareDockerfile, "a.txt": "a\n", "dir/one": "1\n", "dir/sub/two": "2\n", "arch.tar": arch.String()}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// savedConfig returns the "config" object of the image config in a
// `docker save` archive holding one image.
func savedConfig(t testing.TB, archive []byte) map[string]any {
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Size < 1<<20 {
			files[hdr.Name], _ = io.ReadAll(tr)
		}
	}
	var m []struct{ Config string }
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil || len(m) != 1 {
		t.Fatalf("manifest.json: %v", err)
	}
	var conf struct{ Config map[string]any }
	if err := json.Unmarshal(files[m[0].Config], &conf); err != nil {
		t.Fatal(err)
	}
	return conf.Config
}

// empty makes nil, empty lists and empty maps alike.
func empty(v any) any {
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			return nil
		}
	case map[string]any:
		if len(x) == 0 {
			return nil
		}
	case string:
		if x == "" {
			return nil
		}
	}
	return v
}

// treeOf describes each entry of an exported root filesystem, leaving
// out what a container gets at creation rather than from its image.
func treeOf(t testing.TB, data []byte) map[string]string {
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.Trim(strings.TrimPrefix(hdr.Name, "./"), "/")
		switch {
		case name == "", name == ".dockerenv", name == "etc/hosts", name == "etc/hostname", name == "etc/resolv.conf", name == "etc/mtab",
			strings.HasPrefix(name, "dev"), strings.HasPrefix(name, "proc"), strings.HasPrefix(name, "sys"):
			continue
		}
		h := sha256.New()
		io.Copy(h, tr)
		out[name] = fmt.Sprintf("%c %o %d:%d %d %s %x", hdr.Typeflag, hdr.Mode&0o7777, hdr.Uid, hdr.Gid, hdr.Size, hdr.Linkname, h.Sum(nil)[:6])
	}
}

func union(a, b map[string]string) []string {
	seen := map[string]bool{}
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
