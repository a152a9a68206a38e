//go:build linux

package hull

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hullbox/hull/internal/testutil"
)

func TestPullBasicAuth(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t, testutil.WithBasicAuth("alice", "s3cret"))
	pushed := reg.Push(t, "private/busybox:1", testutil.BusyboxImage(t))
	empty := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(empty, []byte(`{}`), 0o600)

	t.Run("anonymous", func(t *testing.T) {
		rt := openTest(t, WithDockerConfig(empty))
		before := rootListing(t, rt.Root())
		_, err := rt.Pull(t.Context(), pushed.Ref)
		var re *RegistryError
		if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &re) || re.StatusCode != 401 {
			t.Fatalf("anonymous pull: %v, want ErrUnauthorized (401)", err)
		}
		if after := rootListing(t, rt.Root()); len(after) != len(before) {
			t.Errorf("failed pull changed the root: %v -> %v", before, after)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		rt := openTest(t, WithDockerConfig(empty), WithAuth(reg.Host, "alice", "nope"))
		if _, err := rt.Pull(t.Context(), pushed.Ref); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("pull: %v, want ErrUnauthorized", err)
		}
	})
	t.Run("WithAuth", func(t *testing.T) {
		rt := openTest(t, WithDockerConfig(empty), WithAuth(reg.Host, "alice", "s3cret"))
		if _, err := rt.Pull(t.Context(), pushed.Ref); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("docker config.json", func(t *testing.T) {
		conf := filepath.Join(t.TempDir(), "config.json")
		token := base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
		if err := os.WriteFile(conf, []byte(`{"auths":{"`+reg.Host+`":{"auth":"`+token+`"}}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		rt := openTest(t, WithDockerConfig(conf))
		if _, err := rt.Pull(t.Context(), pushed.Ref); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPullCredentialHelper is not parallel: it puts a helper on $PATH.
func TestPullCredentialHelper(t *testing.T) {
	reg := testutil.StartRegistry(t, testutil.WithBasicAuth("alice", "s3cret"))
	pushed := reg.Push(t, "private/busybox:1", testutil.BusyboxImage(t))
	dir := t.TempDir()
	// A docker credential helper is a program docker-credential-NAME that
	// answers "get" (server on stdin) with JSON on stdout.
	helper := "#!/bin/sh\nread host\necho '{\"ServerURL\":\"'$host'\",\"Username\":\"alice\",\"Secret\":\"s3cret\"}'\n"
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-hulltest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	conf := filepath.Join(dir, "config.json")
	os.WriteFile(conf, []byte(`{"credHelpers":{"`+reg.Host+`":"hulltest"}}`), 0o600)
	rt := openTest(t, WithDockerConfig(conf))
	if _, err := rt.Pull(t.Context(), pushed.Ref); err != nil {
		t.Fatal(err)
	}
}
