package archive

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A plain directory (a volume) goes to and from a tar whole: its own
// metadata as the entry "./", then the tree below it. Such an archive is
// not a layer: whiteouts have no meaning in it, and every hardlink names a
// file of the same archive.

// WriteDir writes dir's metadata as "./" and then the tree (WriteTree).
// dir itself must be one nobody can replace (hull's own); the walk below
// it reaches every entry by descriptor, one name at a time and never
// through a symlink, so a process that swaps a directory for a symlink
// meanwhile cannot make it read anything outside dir.
func WriteDir(ctx context.Context, w io.Writer, dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	hdr := &tar.Header{
		Typeflag: tar.TypeDir, Name: "./", Mode: int64(st.Mode & 0o7777),
		Uid: int(st.Uid), Gid: int(st.Gid), ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec), Format: tar.FormatPAX,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	// No Close: WriteTree goes on in the same stream and ends it.
	if err := tw.Flush(); err != nil {
		return err
	}
	return WriteTree(ctx, w, dir)
}

// ApplyDir unpacks an archive such as WriteDir writes into the empty
// directory dir, with Apply's path, link and xattr checks, and refuses
// what only makes sense in an image layer: whiteout entries (which Apply
// would turn into overlayfs metadata) and hardlinks to files the archive
// lacks. Those refusals wrap ErrUnsafe, as Apply's own do.
func ApplyDir(ctx context.Context, dir string, r io.Reader) error {
	pr, pw := io.Pipe()
	scanned := make(chan error, 1)
	go func() {
		err := scanWhiteouts(pr)
		_, _ = io.Copy(io.Discard, pr)
		scanned <- err
	}()
	res, err := Apply(ctx, dir, io.TeeReader(r, pw), Options{})
	pw.Close()
	if serr := <-scanned; serr != nil {
		return serr
	}
	if err != nil {
		return err
	}
	return res.Dangling()
}

// scanWhiteouts reads the tar's headers and reports the first entry whose
// name is a whiteout. Read errors are Apply's to report.
func scanWhiteouts(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err != nil {
			return nil
		}
		if strings.HasPrefix(path.Base(path.Clean(hdr.Name)), whiteoutPrefix) {
			return fmt.Errorf("%w: whiteout entry %q outside a layer", ErrUnsafe, hdr.Name)
		}
	}
}
