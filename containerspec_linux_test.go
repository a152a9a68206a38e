package hull

import (
	"archive/tar"
	"bytes"
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
			c.Remove(t.Context(), WithForceRemove())
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
