package hull

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/hullbox/hull/internal/store"
	digest "github.com/opencontainers/go-digest"
)

// archiveStage is an image archive read into the content store. A tar is
// read once, front to back, and the file saying what the others are
// (index.json, manifest.json) may come last, so every regular file is
// stored as a blob named by its content as it streams past: blobs/sha256
// files are checked against their names, layers are never copied twice,
// and what turns out to be unused is deleted afterwards like any
// unreferenced blob. Only the archive's own metadata files are kept in
// memory, bounded. Links are recorded as aliases and resolved in the
// archive's namespace; nothing of the archive is ever created on disk
// under its own name.
type archiveStage struct {
	rt      *Runtime
	files   map[string]stagedFile  // regular files by clean name
	links   map[string]string      // symlinks and hardlinks: clean name -> clean target
	meta    map[string][]byte      // oci-layout, index.json, manifest.json
	added   map[digest.Digest]bool // blobs this load put in the store
	entries int
	buf     []byte
}

// stagedFile is an archive file stored as a blob.
type stagedFile struct {
	digest digest.Digest
	size   int64
}

func newArchiveStage(rt *Runtime) *archiveStage {
	return &archiveStage{
		rt:    rt,
		files: map[string]stagedFile{},
		links: map[string]string{},
		meta:  map[string][]byte{},
		added: map[digest.Digest]bool{},
	}
}

// isMetaFile reports whether name is one of the layouts' own files, kept
// in memory rather than stored.
func isMetaFile(name string) bool {
	return name == ociLayoutFile || name == ociIndexFile || name == dockerManifestFile
}

// read stages every entry of the tar stream r.
func (s *archiveStage) read(ctx context.Context, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil && (hdr == nil || !errors.Is(err, tar.ErrInsecurePath)) {
			return archiveReadError(err)
		}
		if s.entries++; s.entries > maxArchiveEntries {
			return fmt.Errorf("%w: more than %d entries in the archive", ErrInvalidContent, maxArchiveEntries)
		}
		if err := s.entry(hdr, tr); err != nil {
			return fmt.Errorf("archive entry %.256q: %w", hdr.Name, err)
		}
	}
}

// archiveReadError marks a malformed or truncated tar as invalid content;
// other errors (the reader's own) pass unchanged.
func archiveReadError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, tar.ErrHeader) || errors.Is(err, tar.ErrFieldTooLong) {
		return fmt.Errorf("%w: malformed or truncated archive: %v", ErrInvalidContent, err)
	}
	return fmt.Errorf("read archive: %w", err)
}

func (s *archiveStage) entry(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil // PAX defaults for what follows; tar.Reader applied them
	}
	name, err := archiveName(hdr.Name)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return nil
	case tar.TypeReg:
		delete(s.links, name)
		return s.file(name, hdr.Size, r)
	case tar.TypeSymlink:
		if strings.HasPrefix(hdr.Linkname, "/") {
			return fmt.Errorf("%w: absolute symlink to %q", ErrInvalidContent, hdr.Linkname)
		}
		return s.link(name, path.Join(path.Dir(name), hdr.Linkname))
	case tar.TypeLink:
		return s.link(name, hdr.Linkname)
	}
	return fmt.Errorf("%w: entry type %q has no place in an image archive", ErrInvalidContent, hdr.Typeflag)
}

// link records an alias (old docker save and skopeo link layer.tar files
// to one another). The target must stay inside the archive.
func (s *archiveStage) link(name, target string) error {
	t, err := archiveName(target)
	if err != nil {
		return fmt.Errorf("link target: %w", err)
	}
	if t == name || t == "." {
		return fmt.Errorf("%w: link to itself", ErrInvalidContent)
	}
	delete(s.files, name)
	delete(s.meta, name)
	s.links[name] = t
	return nil
}

func (s *archiveStage) file(name string, size int64, r io.Reader) error {
	if isMetaFile(name) {
		if size > maxManifestSize {
			return fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrInvalidContent, size, maxManifestSize)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return archiveReadError(err)
		}
		s.meta[name] = data
		delete(s.files, name)
		return nil
	}
	d, err := s.store(r, blobDigest(name), size)
	if err != nil {
		return err
	}
	delete(s.meta, name)
	s.files[name] = stagedFile{digest: d, size: size}
	return nil
}

// store writes one file into the content store and returns its digest.
// A blobs/sha256 file (expected set) must hash to its name; one already
// stored is only hashed.
func (s *archiveStage) store(r io.Reader, expected digest.Digest, size int64) (digest.Digest, error) {
	if s.buf == nil {
		s.buf = make([]byte, 1<<20)
	}
	if expected != "" {
		if _, ok := s.rt.store.HasBlob(expected); ok {
			h := sha256.New()
			if _, err := io.CopyBuffer(h, r, s.buf); err != nil {
				return "", archiveReadError(err)
			}
			if got := digest.NewDigest(digest.SHA256, h); got != expected {
				return "", fmt.Errorf("%w: content hashes to %s", ErrInvalidContent, got)
			}
			return expected, nil
		}
	}
	w, err := s.rt.store.NewWriter(expected, size)
	if err != nil {
		return "", err
	}
	defer w.Abort()
	if _, err := io.CopyBuffer(w, r, s.buf); err != nil {
		return "", archiveReadError(err)
	}
	_, existed := s.rt.store.HasBlob(w.Digest())
	d, err := w.Commit()
	if errors.Is(err, store.ErrDigestMismatch) {
		return "", fmt.Errorf("%w: %v", ErrInvalidContent, err)
	}
	if err != nil {
		return "", err
	}
	if !existed {
		s.added[d] = true
	}
	return d, nil
}

// lookup finds the file an archive path names, following links (of the
// whole path or of a directory in it) within the archive.
func (s *archiveStage) lookup(name string) (stagedFile, error) {
	p, err := archiveName(name)
	if err != nil {
		return stagedFile{}, err
	}
	for hops := 0; hops < 40; hops++ {
		if f, ok := s.files[p]; ok {
			return f, nil
		}
		next, ok := s.resolveLink(p)
		if !ok {
			return stagedFile{}, fmt.Errorf("%w: %q is not in the archive", ErrInvalidContent, name)
		}
		p = next
	}
	return stagedFile{}, fmt.Errorf("%w: %q: too many levels of links", ErrInvalidContent, name)
}

// resolveLink replaces the first component of p that is a link by the
// link's target.
func (s *archiveStage) resolveLink(p string) (string, bool) {
	parts := strings.Split(p, "/")
	for i := 1; i <= len(parts); i++ {
		if t, ok := s.links[strings.Join(parts[:i], "/")]; ok {
			return path.Join(t, strings.Join(parts[i:], "/")), true
		}
	}
	return "", false
}

// blob finds blob d in the archive's blobs directory and checks that the
// file there is d (it may be a link to another file).
func (s *archiveStage) blob(d digest.Digest) (stagedFile, error) {
	if err := d.Validate(); err != nil {
		return stagedFile{}, fmt.Errorf("%w: digest %q: %v", ErrInvalidContent, d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return stagedFile{}, fmt.Errorf("%w: digest algorithm %s", ErrUnsupported, d.Algorithm())
	}
	f, err := s.lookup(blobPath(d))
	if err != nil {
		return f, err
	}
	if f.digest != d {
		return f, fmt.Errorf("%w: blob %s: content hashes to %s", ErrInvalidContent, d, f.digest)
	}
	return f, nil
}

// readBlob reads a staged metadata blob (manifest, index, config) of at
// most limit bytes.
func (s *archiveStage) readBlob(f stagedFile, limit int64) ([]byte, error) {
	if f.size > limit {
		return nil, fmt.Errorf("%w: %s: %d bytes, more than the %d allowed", ErrInvalidContent, f.digest, f.size, limit)
	}
	return s.rt.store.ReadBlob(f.digest, limit)
}
