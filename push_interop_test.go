//go:build linux

package hull

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/testutil"
)

// startDebianRegistry runs Debian's docker-registry (distribution 2.x, a
// separate program, unlike the in-process v3 of testutil) on a free port
// of 127.0.0.1 for the duration of t, and returns its host:port.
func startDebianRegistry(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry not installed (apt-get install docker-registry)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "config.yml")
	yml := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), host)
	if err := os.WriteFile(conf, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", conf)
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return host
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry on %s did not come up: %v", host, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPushDebianRegistry pushes to distribution 2.8 run as its own process:
// OCI and Docker images, a cross-repository mount, and pulls back by digest.
func TestPushDebianRegistry(t *testing.T) {
	t.Parallel()
	host := startDebianRegistry(t)
	src := testutil.StartRegistry(t)
	for _, docker := range []bool{false, true} {
		name := map[bool]string{false: "oci", true: "docker"}[docker]
		pushed := src.Push(t, "src/"+name+":1", twoLayerImage(t, "debian "+name, docker))
		rt := openTest(t)
		if _, err := rt.Pull(t.Context(), pushed.Ref); err != nil {
			t.Fatal(err)
		}
		var mounted progressLog
		for i, repo := range []string{"first/" + name, "second/" + name} {
			target := host + "/" + repo + ":1"
			if err := rt.Tag(t.Context(), pushed.Ref, target); err != nil {
				t.Fatal(err)
			}
			opts := []ImageOption{}
			if i == 1 {
				opts = append(opts, mounted.option())
			}
			if err := rt.Push(t.Context(), target, opts...); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if !mounted.has("Mounted from first/" + name) {
			t.Errorf("%s: second push did not mount: %+v", name, mounted.all)
		}
		got, err := openTest(t).Pull(t.Context(), host+"/second/"+name+"@"+pushed.ManifestDigest.String())
		if err != nil {
			t.Fatalf("%s: pull back: %v", name, err)
		}
		if got.Digest() != pushed.ManifestDigest || got.ID() != pushed.ConfigDigest.String() {
			t.Errorf("%s: pulled %s/%s, pushed %s/%s", name, got.Digest(), got.ID(), pushed.ManifestDigest, pushed.ConfigDigest)
		}
	}
}
