package imagearchive

import (
	"archive/tar"
	"bufio"
	"bytes"
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

// Stage is an image archive read into the content store. A tar is
// read once, front to back, and the file saying what the others are
// (index.json, manifest.json) may come last, so every regular file is
// stored as a blob named by its content as it streams past: blobs/sha256
// files are checked against their names, layers are never copied twice,
// and what turns out to be unused is deleted afterwards like any
// unreferenced blob. Only the archive's own metadata files are kept in
// memory, bounded. Links are recorded as aliases and resolved in the
// archive's namespace; nothing of the archive is ever created on disk
// under its own name.
type Stage struct {
	store         *store.Store
	manifestLimit int64                  // bytes of a metadata file, index or manifest
	configLimit   int64                  // bytes of an image config
	files         map[string]File        // regular files by clean name
	links         map[string]string      // symlinks and hardlinks: clean name -> clean target
	meta          map[string][]byte      // oci-layout, index.json, manifest.json
	added         map[digest.Digest]bool // blobs this load put in the store
	entries       int
	buf           []byte
}

// File is an archive file stored as a blob.
type File struct {
	Digest digest.Digest
	Size   int64
}

// NewStage returns an empty stage over st. Metadata files (oci-layout,
// index.json, manifest.json), indexes and manifests of more than
// manifestLimit bytes are refused, and so are image configs of more than
// configLimit.
func NewStage(st *store.Store, manifestLimit, configLimit int64) *Stage {
	return &Stage{
		store:         st,
		manifestLimit: manifestLimit,
		configLimit:   configLimit,
		files:         map[string]File{},
		links:         map[string]string{},
		meta:          map[string][]byte{},
		added:         map[digest.Digest]bool{},
	}
}

// Meta returns the content of metadata file name (LayoutFile, IndexFile,
// ManifestFile), nil if the archive has none.
func (s *Stage) Meta(name string) []byte { return s.meta[name] }

// Added returns the blobs this stage put in the store that were not there
// before: what a failed load must remove. The map is the stage's own.
func (s *Stage) Added() map[digest.Digest]bool { return s.added }

// isMetaFile reports whether name is one of the layouts' own files, kept
// in memory rather than stored.
func isMetaFile(name string) bool {
	return name == LayoutFile || name == IndexFile || name == ManifestFile
}

// Read stages every entry of the tar stream r.
func (s *Stage) Read(ctx context.Context, r io.Reader) error {
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
		if s.entries++; s.entries > MaxEntries {
			return fmt.Errorf("%w: more than %d entries in the archive", ErrInvalid, MaxEntries)
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
		return fmt.Errorf("%w: malformed or truncated archive: %v", ErrInvalid, err)
	}
	return fmt.Errorf("read archive: %w", err)
}

func (s *Stage) entry(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil // PAX defaults for what follows; tar.Reader applied them
	}
	name, err := CleanName(hdr.Name)
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
			return fmt.Errorf("%w: absolute symlink to %q", ErrInvalid, hdr.Linkname)
		}
		return s.link(name, path.Join(path.Dir(name), hdr.Linkname))
	case tar.TypeLink:
		return s.link(name, hdr.Linkname)
	}
	return fmt.Errorf("%w: entry type %q has no place in an image archive", ErrInvalid, hdr.Typeflag)
}

// link records an alias (old docker save and skopeo link layer.tar files
// to one another). The target must stay inside the archive.
func (s *Stage) link(name, target string) error {
	t, err := CleanName(target)
	if err != nil {
		return fmt.Errorf("link target: %w", err)
	}
	if t == name || t == "." {
		return fmt.Errorf("%w: link to itself", ErrInvalid)
	}
	delete(s.files, name)
	delete(s.meta, name)
	s.links[name] = t
	return nil
}

func (s *Stage) file(name string, size int64, r io.Reader) error {
	if isMetaFile(name) {
		if size > s.manifestLimit {
			return fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrInvalid, size, s.manifestLimit)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return archiveReadError(err)
		}
		s.meta[name] = data
		delete(s.files, name)
		return nil
	}
	d, err := s.put(r, BlobDigest(name), size)
	if err != nil {
		return err
	}
	delete(s.meta, name)
	s.files[name] = File{Digest: d, Size: size}
	return nil
}

// put writes one file into the content store and returns its digest.
// A blobs/sha256 file (expected set) must hash to its name; one already
// stored is only hashed.
func (s *Stage) put(r io.Reader, expected digest.Digest, size int64) (digest.Digest, error) {
	if s.buf == nil {
		s.buf = make([]byte, 1<<20)
	}
	if expected != "" {
		if _, ok := s.store.HasBlob(expected); ok {
			h := sha256.New()
			if _, err := io.CopyBuffer(h, r, s.buf); err != nil {
				return "", archiveReadError(err)
			}
			if got := digest.NewDigest(digest.SHA256, h); got != expected {
				return "", fmt.Errorf("%w: content hashes to %s", ErrInvalid, got)
			}
			return expected, nil
		}
	}
	w, err := s.store.NewWriter(expected, size)
	if err != nil {
		return "", err
	}
	defer w.Abort()
	if _, err := io.CopyBuffer(w, r, s.buf); err != nil {
		return "", archiveReadError(err)
	}
	_, existed := s.store.HasBlob(w.Digest())
	d, err := w.Commit()
	if errors.Is(err, store.ErrDigestMismatch) {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err != nil {
		return "", err
	}
	if !existed {
		s.added[d] = true
	}
	return d, nil
}

// Lookup finds the file an archive path names, following links (of the
// whole path or of a directory in it) within the archive.
func (s *Stage) Lookup(name string) (File, error) {
	p, err := CleanName(name)
	if err != nil {
		return File{}, err
	}
	for hops := 0; hops < 40; hops++ {
		if f, ok := s.files[p]; ok {
			return f, nil
		}
		next, ok := s.resolveLink(p)
		if !ok {
			return File{}, fmt.Errorf("%w: %q is not in the archive", ErrInvalid, name)
		}
		p = next
	}
	return File{}, fmt.Errorf("%w: %q: too many levels of links", ErrInvalid, name)
}

// resolveLink replaces the first component of p that is a link by the
// link's target.
func (s *Stage) resolveLink(p string) (string, bool) {
	parts := strings.Split(p, "/")
	for i := 1; i <= len(parts); i++ {
		if t, ok := s.links[strings.Join(parts[:i], "/")]; ok {
			return path.Join(t, strings.Join(parts[i:], "/")), true
		}
	}
	return "", false
}

// Blob finds blob d in the archive's blobs directory and checks that the
// file there is d (it may be a link to another file).
func (s *Stage) Blob(d digest.Digest) (File, error) {
	if err := d.Validate(); err != nil {
		return File{}, fmt.Errorf("%w: digest %q: %v", ErrInvalid, d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return File{}, fmt.Errorf("%w: digest algorithm %s", ErrUnsupported, d.Algorithm())
	}
	f, err := s.Lookup(BlobPath(d))
	if err != nil {
		return f, err
	}
	if f.Digest != d {
		return f, fmt.Errorf("%w: blob %s: content hashes to %s", ErrInvalid, d, f.Digest)
	}
	return f, nil
}

// ReadBlob reads a staged metadata blob (manifest, index, config) of at
// most limit bytes.
func (s *Stage) ReadBlob(f File, limit int64) ([]byte, error) {
	if f.Size > limit {
		return nil, fmt.Errorf("%w: %s: %d bytes, more than the %d allowed", ErrInvalid, f.Digest, f.Size, limit)
	}
	return s.store.ReadBlob(f.Digest, limit)
}

// AddBlob stores a blob made for the load (a manifest) and tracks it.
func (s *Stage) AddBlob(data []byte) error {
	d := digest.FromBytes(data)
	_, existed := s.store.HasBlob(d)
	if _, err := s.store.WriteBlob(data, d); err != nil {
		return err
	}
	if !existed {
		s.added[d] = true
	}
	return nil
}

// Compression tells a stored layer's compression by its first bytes: ""
// (a plain tar), "gzip" or "zstd".
func (s *Stage) Compression(d digest.Digest) (string, error) {
	f, err := s.store.OpenBlob(d)
	if err != nil {
		return "", err
	}
	defer f.Close()
	magic, err := bufio.NewReader(f).Peek(4)
	if err != nil && err != io.EOF {
		return "", err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return "gzip", nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd", nil
	}
	return "", nil
}
