//go:build linux

package hull

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hullbox/hull/internal/testutil"
)

// authRegistries are the two ways a registry asks for credentials.
var authRegistries = []struct {
	name string
	opt  func(user, password string) testutil.RegistryOption
}{
	{"basic", testutil.WithBasicAuth},
	{"token", testutil.WithTokenAuth},
}

func TestPushPullAuth(t *testing.T) {
	t.Parallel()
	for _, ar := range authRegistries {
		t.Run(ar.name, func(t *testing.T) {
			t.Parallel()
			reg := testutil.StartRegistry(t, ar.opt("alice", "s3cret"))
			pushed := reg.Push(t, "private/src:1", twoLayerImage(t, ar.name, false))
			rt := openTest(t, noDockerConfig(t), WithAuth(reg.Host, "alice", "s3cret"))
			if _, err := rt.Pull(t.Context(), pushed.Ref); err != nil {
				t.Fatal(err)
			}
			target := reg.Host + "/private/dst:1"
			if err := rt.Tag(t.Context(), pushed.Ref, target); err != nil {
				t.Fatal(err)
			}
			// Mounting from private/src needs pull access to it too.
			var progress progressLog
			if err := rt.Push(t.Context(), target, progress.option()); err != nil {
				t.Fatal(err)
			}
			if !progress.has("Mounted from private/src") {
				t.Errorf("no mount with credentials: %+v", progress.all)
			}
			got, err := openTest(t, noDockerConfig(t), WithAuth(reg.Host, "alice", "s3cret")).Pull(t.Context(), target)
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest() != pushed.ManifestDigest {
				t.Errorf("pulled %s, pushed %s", got.Digest(), pushed.ManifestDigest)
			}

			for name, opts := range map[string][]Option{
				"wrong password": {WithAuth(reg.Host, "alice", "nope")},
				"anonymous":      nil,
			} {
				other := openTest(t, append(opts, noDockerConfig(t))...)
				tarball := testutil.TarBytes(t, []testutil.File{{Name: "f", Body: []byte("x")}})
				ref := reg.Host + "/private/denied:1"
				if _, err := other.Import(t.Context(), bytes.NewReader(tarball), ref); err != nil {
					t.Fatal(err)
				}
				err := other.Push(t.Context(), ref)
				var re *RegistryError
				if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &re) || re.StatusCode != 401 {
					t.Errorf("%s: push = %v, want ErrUnauthorized (401)", name, err)
				}
			}
		})
	}
}

// readAuths returns the "auths" of a docker config.json.
func readAuths(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Auths map[string]map[string]string `json:"auths"`
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return conf.Auths
}

func TestLoginLogout(t *testing.T) {
	t.Parallel()
	for _, ar := range authRegistries {
		t.Run(ar.name, func(t *testing.T) {
			t.Parallel()
			reg := testutil.StartRegistry(t, ar.opt("alice", "s3cret"))
			pushed := reg.Push(t, "private/app:1", testutil.BusyboxImage(t))
			conf := filepath.Join(t.TempDir(), "docker", "config.json")
			os.MkdirAll(filepath.Dir(conf), 0o700)
			original := []byte(`{"psFormat": "table {{.ID}}"}`)
			if err := os.WriteFile(conf, original, 0o600); err != nil {
				t.Fatal(err)
			}
			rt := openTest(t, WithDockerConfig(conf))

			for _, pw := range []string{"nope", ""} {
				err := rt.Login(t.Context(), reg.Host, "alice", pw)
				want := ErrUnauthorized
				if pw == "" {
					want = ErrInvalidArgument
				}
				if !errors.Is(err, want) {
					t.Fatalf("login with password %q: %v, want %v", pw, err, want)
				}
				if data, _ := os.ReadFile(conf); !bytes.Equal(data, original) {
					t.Fatalf("a failed login changed config.json:\n%s", data)
				}
			}

			if err := rt.Login(t.Context(), "http://"+reg.Host+"/v2/", "alice", "s3cret"); err != nil {
				t.Fatal(err)
			}
			auths := readAuths(t, conf)
			if got, want := auths[reg.Host]["auth"], base64.StdEncoding.EncodeToString([]byte("alice:s3cret")); got != want {
				t.Fatalf("config.json auth for %s = %q, want %q (auths %v)", reg.Host, got, want, auths)
			}
			if data, _ := os.ReadFile(conf); !bytes.Contains(data, []byte("psFormat")) {
				t.Errorf("login dropped the other settings of config.json:\n%s", data)
			}
			if fi, err := os.Stat(conf); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("config.json mode %v (%v), want 0600", fi.Mode(), err)
			}
			// A fresh runtime, in what could be another process, uses them.
			fresh := openTest(t, WithDockerConfig(conf))
			if _, err := fresh.Pull(t.Context(), pushed.Ref); err != nil {
				t.Fatalf("pull after login: %v", err)
			}

			if err := rt.Logout(t.Context(), reg.Host); err != nil {
				t.Fatal(err)
			}
			if _, ok := readAuths(t, conf)[reg.Host]; ok {
				t.Errorf("logout left %s in config.json", reg.Host)
			}
			if err := rt.Logout(t.Context(), reg.Host); !errors.Is(err, ErrNotFound) {
				t.Errorf("second logout = %v, want ErrNotFound", err)
			}
			again := openTest(t, WithDockerConfig(conf))
			if _, err := again.Pull(t.Context(), pushed.Ref); !errors.Is(err, ErrUnauthorized) {
				t.Errorf("pull after logout = %v, want ErrUnauthorized", err)
			}
		})
	}
}

func TestLoginServer(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                            "docker.io",
		"docker.io":                   "docker.io",
		"index.docker.io":             "docker.io",
		"https://index.docker.io/v1/": "docker.io",
		"registry-1.docker.io":        "docker.io",
		"localhost:5000":              "localhost:5000",
		"http://127.0.0.1:5000/v2/":   "127.0.0.1:5000",
		"ghcr.io":                     "ghcr.io",
	} {
		if got, err := loginServer(in); err != nil || got != want {
			t.Errorf("loginServer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"bad host", "a b:5000"} {
		if _, err := loginServer(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("loginServer(%q) = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

// TestLoginDockerHubKey checks where Docker Hub credentials go, without
// contacting Docker Hub: docker keeps them under its v1 URL.
func TestLoginDockerHubKey(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "config.json")
	hub := base64.StdEncoding.EncodeToString([]byte("bob:pw"))
	os.WriteFile(conf, []byte(`{"auths":{"https://index.docker.io/v1/":{"auth":"`+hub+`"}}}`), 0o600)
	rt := openTest(t, WithDockerConfig(conf))
	if err := rt.Logout(t.Context(), "docker.io"); err != nil {
		t.Fatal(err)
	}
	if auths := readAuths(t, conf); len(auths) != 0 {
		t.Errorf("logout from docker.io left %v", auths)
	}
}
