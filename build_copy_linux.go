package hull

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/hullbox/hull/internal/archive"
	"github.com/hullbox/hull/internal/layers"
	"github.com/hullbox/hull/internal/spec"
)

// lowersOf is img's snapshot directories, top first (none for nil).
func (rt *Runtime) lowersOf(img *Image) []string {
	if img == nil {
		return nil
	}
	out := make([]string, 0, len(img.rec.ChainIDs))
	for i := len(img.rec.ChainIDs) - 1; i >= 0; i-- {
		out = append(out, rt.snaps.Path(img.rec.ChainIDs[i]))
	}
	return out
}

func (b *builder) resolveChown(st *stageState, chown string) (int, int, error) {
	user, _, hasGroup := strings.Cut(chown, ":")
	uid, gid, err := spec.ResolveUserFS(archive.LayerFS(b.rt.lowersOf(st.img)), chown)
	if err != nil {
		return 0, 0, err
	}
	if !hasGroup && user != "" {
		gid = uid
	}
	return int(uid), int(gid), nil
}

// copyLayer writes the layer of a COPY or ADD (a tar made from the
// context, or read from another image's layers) through the store's
// layer writer, and makes the step's image.
func (b *builder) copyLayer(ctx context.Context, st *stageState, p *copyPlan) (*Image, error) {
	pr, pw := io.Pipe()
	werr := make(chan error, 1)
	go func() {
		tw := tar.NewWriter(pw)
		err := b.writeCopy(ctx, tw, st, p)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
		werr <- err
	}()
	added, err := layers.Add(ctx, b.rt.store, b.rt.snaps, pr, st.img == nil)
	pr.CloseWithError(io.ErrClosedPipe)
	if e := <-werr; e != nil {
		if err == nil {
			added.Pending.Abort()
		}
		return nil, e
	}
	if err != nil {
		return nil, alsoIs(err, layers.ErrInvalidContent, ErrInvalidContent)
	}
	return b.writeImage(ctx, st, &added)
}

// destIn resolves p (absolute) through the symlinks of the image's
// layers: the longest prefix that exists is resolved, the rest appended.
func destIn(u archive.Union, p string) string {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for i := len(parts); i > 0; i-- {
		r, err := u.Resolve(strings.Join(parts[:i], "/"), true)
		if err == nil {
			if r == "." {
				r = ""
			}
			return path.Join(append([]string{r}, parts[i:]...)...)
		}
	}
	return strings.Trim(p, "/")
}

// writeCopy writes the COPY's entries: the destination's directories
// first (those the image has with their metadata, new ones 0755), then
// each source.
func (b *builder) writeCopy(ctx context.Context, tw *tar.Writer, st *stageState, p *copyPlan) error {
	lowers := b.rt.lowersOf(st.img)
	u := archive.Union{Layers: lowers}
	destDir := p.destDir
	if !destDir && len(p.sources) == 1 && (p.sources[0].dir || p.add && b.isArchive(p.sources[0])) {
		destDir = true // a directory's contents go into dest
	}
	if !destDir && len(lowers) > 0 {
		if r, err := u.Resolve(strings.Trim(p.dest, "/"), true); err == nil {
			if _, dir, _ := u.IsDir(r); dir {
				destDir = true // an existing directory: the file goes inside
			}
		}
	}
	dir := p.dest
	if !destDir {
		dir = path.Dir(p.dest)
	}
	resolvedDir := destIn(u, dir)
	if err := b.writeParents(tw, lowers, resolvedDir, p); err != nil {
		return err
	}
	for _, s := range p.sources {
		if err := ctx.Err(); err != nil {
			return err
		}
		target := path.Join(resolvedDir, path.Base(p.dest))
		var err error
		switch {
		case s.content != nil:
			if destDir {
				target = path.Join(resolvedDir, path.Base(s.content.Path))
			}
			err = writeInline(tw, target, s.content.Data, p)
		case s.img != nil:
			err = b.copyFromImage(ctx, tw, s, resolvedDir, destDir, target, p)
		default:
			if destDir {
				target = path.Join(resolvedDir, path.Base(s.rel))
			}
			switch {
			case s.dir:
				err = b.bctx.WriteTar(tw, s.rel, resolvedDir, p.own)
			case p.add && b.isArchive(s):
				err = b.extract(tw, s.rel, resolvedDir)
			default:
				err = b.bctx.WriteTar(tw, s.rel, target, p.own)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// writeParents writes dir and its parents: as the image has them, or new
// (0755, owned by the --chown user as Docker makes them).
func (b *builder) writeParents(tw *tar.Writer, lowers []string, dir string, p *copyPlan) error {
	if dir == "" || dir == "." {
		return nil
	}
	lfs := archive.LayerFS(lowers)
	now := time.Now().UTC().Truncate(time.Second)
	parts := strings.Split(dir, "/")
	for i := range parts {
		name := strings.Join(parts[:i+1], "/")
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: now, Format: tar.FormatPAX}
		if p.chowned && i == len(parts)-1 {
			hdr.Uid, hdr.Gid = p.own.UID, p.own.GID
		}
		if fi, err := lfs.Stat(name); err == nil && len(lowers) > 0 {
			if !fi.IsDir() {
				return fmt.Errorf("COPY: %s is not a directory in the image", "/"+name)
			}
			hdr.Mode, hdr.ModTime = int64(fi.Mode().Perm())|modeBits(fi.Mode()), fi.ModTime()
			if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
				hdr.Uid, hdr.Gid = int(sys.Uid), int(sys.Gid)
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	return nil
}

func modeBits(m fs.FileMode) int64 {
	var out int64
	if m&fs.ModeSetuid != 0 {
		out |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		out |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		out |= 0o1000
	}
	return out
}

func writeInline(tw *tar.Writer, name, data string, p *copyPlan) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Now().UTC().Truncate(time.Second), Format: tar.FormatPAX}
	p.own.ApplyTo(hdr)
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := io.WriteString(tw, data)
	return err
}

// copyFromImage copies a path of another stage's or image's layers (read
// from its snapshots, never mounted), renamed under the destination.
func (b *builder) copyFromImage(ctx context.Context, tw *tar.Writer, s copySource, dir string, destDir bool, target string, p *copyPlan) error {
	u := archive.Union{Layers: b.rt.lowersOf(s.img)}
	if strings.ContainsAny(s.rel, "*?[") {
		return fmt.Errorf("COPY --from: wildcards are not supported by hull's builder: %s", s.rel)
	}
	rel, err := u.Resolve(s.rel, true)
	if err != nil {
		return fmt.Errorf("COPY --from %s: %w", "/"+s.rel, err)
	}
	exists, isDir, err := u.IsDir(rel)
	if err != nil || !exists {
		return fmt.Errorf("COPY --from %s: %w", "/"+s.rel, errors.Join(err, fs.ErrNotExist))
	}
	base, rename := "", func(n string) string { return path.Join(dir, n) }
	if !isDir {
		if destDir {
			target = path.Join(dir, path.Base(rel))
		}
		base, rename = "x", func(n string) string { return target + strings.TrimPrefix(n, "x") }
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(u.WriteTar(ctx, pw, rel, base)) }()
	defer pr.CloseWithError(io.ErrClosedPipe)
	tr := tar.NewReader(pr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		hdr.Name = rename(strings.TrimPrefix(hdr.Name, "./"))
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = rename(strings.TrimPrefix(hdr.Linkname, "./"))
		}
		p.own.ApplyTo(hdr)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// isArchive reports whether an ADD source is a local tar archive (plain,
// gzip, bzip2 or zstd), which ADD extracts.
func (b *builder) isArchive(s copySource) bool {
	if s.dir || s.img != nil || s.content != nil {
		return false
	}
	f, err := b.bctx.Open(s.rel)
	if err != nil {
		return false
	}
	defer f.Close()
	r, closer, err := decompress(f)
	if err != nil {
		return false
	}
	defer closer()
	_, err = tar.NewReader(r).Next()
	return err == nil
}

func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(3); bytes.Equal(magic, []byte("BZh")) {
		return bzip2.NewReader(br), func() {}, nil
	}
	dr, err := archive.Decompress(br)
	if err != nil {
		return nil, nil, err
	}
	return dr, func() { dr.Close() }, nil
}

// extract writes the entries of a local archive under dir, as ADD does.
// Names stay inside dir; overlay whiteouts are refused.
func (b *builder) extract(tw *tar.Writer, rel, dir string) error {
	f, err := b.bctx.Open(rel)
	if err != nil {
		return err
	}
	defer f.Close()
	r, closer, err := decompress(f)
	if err != nil {
		return err
	}
	defer closer()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ADD %s: %w", rel, err)
		}
		name := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		if strings.HasPrefix(path.Base(name), ".wh.") {
			return fmt.Errorf("ADD %s: %s: whiteout entries are not allowed", rel, hdr.Name)
		}
		if name == "" {
			continue
		}
		hdr.Name = path.Join(dir, name)
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = path.Join(dir, strings.TrimPrefix(path.Clean("/"+hdr.Linkname), "/"))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// hasDir reports whether st's image has the directory p (absolute).
func (b *builder) hasDir(st *stageState, p string) bool {
	u := archive.Union{Layers: b.rt.lowersOf(st.img)}
	if len(u.Layers) == 0 {
		return false
	}
	r, err := u.Resolve(strings.Trim(p, "/"), true)
	if err != nil {
		return false
	}
	_, dir, _ := u.IsDir(r)
	return dir
}
