package hull

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestCreateUserFIFOPasswd: an image whose etc/passwd is a FIFO fails Create with a user
// name at once, instead of blocking for ever in the open of the FIFO.
func TestCreateUserFIFOPasswd(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	files := append(testutil.BusyboxFiles(t), testutil.File{Name: "etc/passwd", Type: tar.TypeFifo, Mode: 0o644})
	cfg := ocispec.ImageConfig{Env: []string{testutil.DefaultPath}, Cmd: []string{"true"}, User: "app"}
	if _, err := rt.Import(t.Context(), bytes.NewReader(testutil.TarBytes(t, files)), "fifo:test", WithImportConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := rt.Create(t.Context(), "fifo:test")
		if c != nil {
			c.Remove(t.Context(), WithForce())
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("Create: %v, want ErrInvalidArgument", err)
		}
		t.Log(err)
	case <-time.After(10 * time.Second):
		t.Fatal("Create blocks on a FIFO etc/passwd")
	}
}

// TestUserSymlinkedPasswd: an image whose /etc/passwd and /etc/group are
// absolute symlinks inside it (even across layers) runs as a named user,
// as with Docker; a link that climbs out of the root stays in it.
func TestUserSymlinkedPasswd(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	ctx := t.Context()
	lower := append(testutil.BusyboxFiles(t),
		testutil.File{Name: "etc/real/passwd", Body: []byte("root:x:0:0::/root:/bin/sh\napp:x:1234:4321::/home/app:/bin/sh\n")},
		testutil.File{Name: "etc/real/group", Body: []byte("root:x:0:\nteam:x:4321:\nextra:x:777:app\n")})
	cfg := ocispec.ImageConfig{Env: []string{testutil.DefaultPath}, Cmd: []string{"sh"}}
	if _, err := rt.Import(ctx, bytes.NewReader(testutil.TarBytes(t, lower)), "links:base", WithImportConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	// The links in a layer of their own, on top: absolute, and one that
	// climbs past the root (which the container's kernel keeps at /).
	c, err := rt.Create(ctx, "links:base", WithCmd("true"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(context.Background(), WithForce())
	upper := testutil.TarBytes(t, []testutil.File{
		{Name: "etc/passwd", Type: tar.TypeSymlink, Linkname: "/etc/real/passwd"},
		{Name: "etc/group", Type: tar.TypeSymlink, Linkname: "../../../../etc/real/group"},
	})
	if err := c.CopyTo(ctx, "/", bytes.NewReader(upper)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx, "links:test"); err != nil {
		t.Fatal(err)
	}
	st, out, err := runRef(t, rt, "links:test", WithUser("app"), WithCmd("id"))
	if err != nil || st.ExitCode != 0 || out != "uid=1234(app) gid=4321(team) groups=777(extra)\n" {
		t.Errorf("run as app: %+v %v %q", st, err, out)
	}
}
