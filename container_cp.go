package hull

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hullbox/hull/internal/archive"
)

// CopyToHost copies the file or directory src of the container into the
// host directory hostDir (created if missing), like `docker cp
// CONTAINER:src hostDir`: it is CopyFrom unpacked on the host, the copy
// named from src's last element. The tar is unpacked as an untrusted
// layer is: no entry can be written outside hostDir.
func (c *Container) CopyToHost(ctx context.Context, src, hostDir string) error {
	rc, err := c.CopyFrom(ctx, src)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		return fmt.Errorf("copy from container %s: %w", shortContainerID(c.id), err)
	}
	if _, err := archive.Apply(ctx, hostDir, rc, archive.Options{}); err != nil {
		return fmt.Errorf("copy from container %s: %w", shortContainerID(c.id), err)
	}
	return nil
}

// CopyFromHost copies the host file or directory hostPath into the
// directory dst of the container, like `docker cp hostPath CONTAINER:dst`:
// it is CopyTo given a tar of hostPath, named from its last element.
func (c *Container) CopyFromHost(ctx context.Context, hostPath, dst string) error {
	abs, err := filepath.Abs(hostPath)
	if err != nil {
		return fmt.Errorf("copy to container %s: %w", shortContainerID(c.id), err)
	}
	u := archive.Union{Layers: []string{filepath.Dir(abs)}}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(u.WriteTar(ctx, pw, filepath.Base(abs), filepath.Base(abs))) }()
	defer pr.Close()
	return c.CopyTo(ctx, dst, pr)
}
