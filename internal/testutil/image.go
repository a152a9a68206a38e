package testutil

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"
)

// Docker schema2 media types, for images built with Image.Docker.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar"
	MediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerLayerZstd    = "application/vnd.docker.image.rootfs.diff.tar.zstd"
)

// Epoch is the time stamp given to files without a ModTime and to image
// configs, so that built images are byte-for-byte reproducible.
var Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// File is one entry of a layer tar.
type File struct {
	// Name is the path in the tar, e.g. "bin/sh"; written exactly as given.
	Name string
	// Type is the tar type flag (tar.TypeReg, tar.TypeDir, tar.TypeSymlink,
	// tar.TypeLink, tar.TypeChar ...). 0 means tar.TypeReg.
	Type byte
	// Mode holds permission and setuid/setgid/sticky bits (e.g. 01777).
	// 0 means 0755 for directories, 0777 for symlinks and 0644 otherwise;
	// use Layer.Raw for an entry with mode 0.
	Mode int64
	// Uid and Gid own the entry. Default 0.
	Uid, Gid int
	// Body is the content of a regular file; it is an error on other types.
	Body []byte
	// Linkname is the target of a symlink or hard link.
	Linkname string
	// Devmajor and Devminor are the device numbers of char/block devices.
	Devmajor, Devminor int64
	// Xattrs become PAX SCHILY.xattr.* records (and force PAX format).
	Xattrs map[string]string
	// ModTime defaults to Epoch.
	ModTime time.Time
}

// Compression is how a layer blob is compressed.
type Compression int

// Layer compressions. The zero value is Uncompressed.
const (
	Uncompressed Compression = iota
	Gzip
	Zstd
)

// Layer is one image layer.
type Layer struct {
	// Files are written to the tar in the order given.
	Files []File
	// Compression of the blob. Default Uncompressed.
	Compression Compression
	// Raw, if set, is used as the exact uncompressed tar instead of Files,
	// for crafting hostile layers. It is still compressed per Compression.
	Raw []byte

	// built, if set, is the blob made from this layer beforehand (BenchImage).
	built *builtLayer
}

// Image is an image to build in memory and push with Registry.Push.
type Image struct {
	// Layers, bottom first.
	Layers []Layer
	// Config is the runtime config (Cmd, Env, User ...) of the image config.
	Config ocispec.ImageConfig
	// Platform defaults to linux/runtime.GOARCH.
	Platform ocispec.Platform
	// Docker selects Docker schema2 media types instead of OCI ones.
	Docker bool
	// History of the image config. Default: one entry per layer.
	History []ocispec.History
}

// Pushed describes what Push or PushIndex put in the registry.
type Pushed struct {
	// Ref is "host/repo:tag", or "host/repo@digest" for index children.
	Ref string
	// ManifestDigest is the digest of the manifest (or index) bytes.
	ManifestDigest digest.Digest
	// ConfigDigest is the digest of the config blob; empty for an index.
	ConfigDigest digest.Digest
	// LayerDigests are the digests of the compressed layer blobs, and
	// DiffIDs those of the uncompressed tars, bottom first.
	LayerDigests, DiffIDs []digest.Digest
	// Manifest is the manifest (or index) JSON as pushed.
	Manifest []byte
	// Config is the image config JSON as pushed; nil for an index.
	Config []byte
}

// builtLayer is a layer turned into its blob.
type builtLayer struct {
	compression Compression
	blob        []byte
	diffID      digest.Digest
}

// TarBytes returns the tar archive of files, deterministically: entries in
// the order given, defaults as documented on File.
func TarBytes(t testing.TB, files []File) []byte {
	t.Helper()
	b, err := tarBytes(files)
	if err != nil {
		t.Fatalf("tar: %v", err)
	}
	return b
}

func tarBytes(files []File) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(tarSize(files))
	if err := writeTar(&buf, files); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarSize estimates the size of the tar of files, to allocate once.
func tarSize(files []File) int {
	n := 1024 // end-of-archive blocks
	for _, f := range files {
		n += 512 + (len(f.Body)+511)&^511
		if len(f.Xattrs) > 0 || len(f.Name) > 100 || len(f.Linkname) > 100 {
			n += 1024 // PAX header and records, usually
		}
	}
	return n
}

func writeTar(w io.Writer, files []File) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		hdr, err := tarHeader(f)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		if _, err := tw.Write(f.Body); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	return tw.Close()
}

func tarHeader(f File) (*tar.Header, error) {
	typ := f.Type
	if typ == 0 {
		typ = tar.TypeReg
	}
	if typ != tar.TypeReg && len(f.Body) > 0 {
		return nil, fmt.Errorf("%s: body on a non-regular entry (type %q)", f.Name, typ)
	}
	mode := f.Mode
	if mode == 0 {
		switch typ {
		case tar.TypeDir:
			mode = 0o755
		case tar.TypeSymlink:
			mode = 0o777
		default:
			mode = 0o644
		}
	}
	mtime := f.ModTime
	if mtime.IsZero() {
		mtime = Epoch
	}
	hdr := &tar.Header{
		Typeflag: typ,
		Name:     f.Name,
		Linkname: f.Linkname,
		Size:     int64(len(f.Body)),
		Mode:     mode,
		Uid:      f.Uid,
		Gid:      f.Gid,
		ModTime:  mtime,
		Devmajor: f.Devmajor,
		Devminor: f.Devminor,
	}
	if len(f.Xattrs) > 0 {
		hdr.Format = tar.FormatPAX
		hdr.PAXRecords = make(map[string]string, len(f.Xattrs))
		for k, v := range f.Xattrs {
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
	}
	return hdr, nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// compressor returns a writer that compresses per c into w; gzipLevel
// applies to Gzip only. Output is reproducible for the same input.
func compressor(w io.Writer, c Compression, gzipLevel int) (io.WriteCloser, error) {
	switch c {
	case Uncompressed:
		return nopWriteCloser{w}, nil
	case Gzip:
		return gzip.NewWriterLevel(w, gzipLevel)
	case Zstd:
		// One goroutine keeps the output reproducible.
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
	}
	return nil, fmt.Errorf("unknown compression %d", c)
}

// buildLayer makes the blob of l, streaming the tar through the diff_id
// digester and the compressor so that the uncompressed tar is never held.
func buildLayer(l Layer, gzipLevel int) (*builtLayer, error) {
	if l.built != nil && l.built.compression == l.Compression {
		return l.built, nil
	}
	size := len(l.Raw)
	if l.Raw == nil {
		size = tarSize(l.Files)
	}
	var blob bytes.Buffer
	blob.Grow(size + size/64 + 4096) // room for incompressible data
	zw, err := compressor(&blob, l.Compression, gzipLevel)
	if err != nil {
		return nil, err
	}
	diff := digest.Canonical.Digester()
	w := io.MultiWriter(diff.Hash(), zw)
	if l.Raw != nil {
		_, err = w.Write(l.Raw)
	} else {
		err = writeTar(w, l.Files)
	}
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &builtLayer{compression: l.Compression, blob: blob.Bytes(), diffID: diff.Digest()}, nil
}

func layerMediaType(c Compression, docker bool) string {
	switch {
	case docker && c == Gzip:
		return MediaTypeDockerLayerGzip
	case docker && c == Zstd:
		return MediaTypeDockerLayerZstd
	case docker:
		return MediaTypeDockerLayer
	case c == Gzip:
		return ocispec.MediaTypeImageLayerGzip
	case c == Zstd:
		return ocispec.MediaTypeImageLayerZstd
	}
	return ocispec.MediaTypeImageLayer
}

// builtImage is an Image turned into blobs and manifest.
type builtImage struct {
	pushed   Pushed
	platform ocispec.Platform
	manifest ocispec.Descriptor
	blobs    []blob // config first, then layers
}

type blob struct {
	desc ocispec.Descriptor
	data []byte
}

func buildImage(img Image) (*builtImage, error) {
	plat := img.Platform
	if plat.OS == "" {
		plat.OS = "linux"
	}
	if plat.Architecture == "" {
		plat.Architecture = runtime.GOARCH
	}
	bi := &builtImage{platform: plat, blobs: make([]blob, 1, len(img.Layers)+1)}
	var layerDescs []ocispec.Descriptor
	for i, l := range img.Layers {
		bl, err := buildLayer(l, gzip.DefaultCompression)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		d := ocispec.Descriptor{
			MediaType: layerMediaType(l.Compression, img.Docker),
			Digest:    digest.FromBytes(bl.blob),
			Size:      int64(len(bl.blob)),
		}
		layerDescs = append(layerDescs, d)
		bi.blobs = append(bi.blobs, blob{desc: d, data: bl.blob})
		bi.pushed.LayerDigests = append(bi.pushed.LayerDigests, d.Digest)
		bi.pushed.DiffIDs = append(bi.pushed.DiffIDs, bl.diffID)
	}

	history := img.History
	if history == nil {
		for i := range img.Layers {
			history = append(history, ocispec.History{
				Created:   &Epoch,
				CreatedBy: fmt.Sprintf("testutil layer %d", i),
			})
		}
	}
	config, err := json.Marshal(ocispec.Image{
		Created:  &Epoch,
		Platform: plat,
		Config:   img.Config,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: nonNil(bi.pushed.DiffIDs)},
		History:  history,
	})
	if err != nil {
		return nil, err
	}
	configType, manifestType := ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageManifest
	if img.Docker {
		configType, manifestType = MediaTypeDockerConfig, MediaTypeDockerManifest
	}
	configDesc := ocispec.Descriptor{
		MediaType: configType,
		Digest:    digest.FromBytes(config),
		Size:      int64(len(config)),
	}
	bi.blobs[0] = blob{desc: configDesc, data: config}

	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: manifestType,
		Config:    configDesc,
		Layers:    nonNil(layerDescs),
	})
	if err != nil {
		return nil, err
	}
	bi.manifest = ocispec.Descriptor{
		MediaType: manifestType,
		Digest:    digest.FromBytes(manifest),
		Size:      int64(len(manifest)),
	}
	bi.pushed.ConfigDigest = configDesc.Digest
	bi.pushed.ManifestDigest = bi.manifest.Digest
	bi.pushed.Manifest = manifest
	bi.pushed.Config = config
	return bi, nil
}

// nonNil makes JSON say [] rather than null for an image with no layers.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// splitRepoTag parses "repo:tag" (tag defaults to "latest").
func (r *Registry) splitRepoTag(t testing.TB, repoTag string) (repo, tag string) {
	t.Helper()
	ref, err := registry.ParseReference(r.Host + "/" + repoTag)
	if err != nil {
		t.Fatalf("bad reference %q: %v", repoTag, err)
	}
	if ref.Reference == "" {
		ref.Reference = "latest"
	}
	if _, err := ref.Digest(); err == nil {
		t.Fatalf("reference %q: want a tag, not a digest", repoTag)
	}
	return ref.Repository, ref.Reference
}

// Push builds img and pushes its blobs and manifest to repository and tag
// repoTag ("test/busybox:1", tag default "latest"), with the registry's
// credentials. The build is reproducible: the same img gives the same digests.
func (r *Registry) Push(t testing.TB, repoTag string, img Image) Pushed {
	t.Helper()
	repoName, tag := r.splitRepoTag(t, repoTag)
	bi, err := buildImage(img)
	if err != nil {
		t.Fatalf("build image %s: %v", repoTag, err)
	}
	r.pushImage(t, repoName, bi, tag)
	bi.pushed.Ref = r.Host + "/" + repoName + ":" + tag
	return bi.pushed
}

// pushImage pushes bi's blobs, then its manifest tagged tag (by digest if "").
func (r *Registry) pushImage(t testing.TB, repoName string, bi *builtImage, tag string) {
	t.Helper()
	ctx := t.Context()
	repo := r.Repository(t, repoName)
	for _, b := range bi.blobs {
		ok, err := repo.Blobs().Exists(ctx, b.desc)
		if err != nil {
			t.Fatalf("push %s: blob %s exists: %v", repoName, b.desc.Digest, err)
		}
		if ok {
			continue
		}
		if err := repo.Blobs().Push(ctx, b.desc, bytes.NewReader(b.data)); err != nil {
			t.Fatalf("push %s: blob %s: %v", repoName, b.desc.Digest, err)
		}
	}
	r.pushManifest(t, repoName, bi.manifest, bi.pushed.Manifest, tag)
}

func (r *Registry) pushManifest(t testing.TB, repoName string, desc ocispec.Descriptor, data []byte, tag string) {
	t.Helper()
	repo := r.Repository(t, repoName)
	var err error
	if tag == "" {
		err = repo.Manifests().Push(t.Context(), desc, bytes.NewReader(data))
	} else {
		err = repo.Manifests().PushReference(t.Context(), desc, bytes.NewReader(data), tag)
	}
	if err != nil {
		t.Fatalf("push %s: manifest %s: %v", repoName, desc.Digest, err)
	}
}

// PushIndex pushes each of imgs by digest, then an index listing them by
// img.Platform, tagged repoTag: an OCI image index, or a Docker manifest list
// when docker is true (which then also forces Docker media types on imgs).
func (r *Registry) PushIndex(t testing.TB, repoTag string, imgs []Image, docker bool) (index Pushed, children []Pushed) {
	t.Helper()
	repoName, tag := r.splitRepoTag(t, repoTag)
	idx := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{},
	}
	if docker {
		idx.MediaType = MediaTypeDockerManifestList
	}
	for i, img := range imgs {
		img.Docker = img.Docker || docker
		bi, err := buildImage(img)
		if err != nil {
			t.Fatalf("build image %d of %s: %v", i, repoTag, err)
		}
		r.pushImage(t, repoName, bi, "")
		bi.pushed.Ref = r.Host + "/" + repoName + "@" + bi.pushed.ManifestDigest.String()
		children = append(children, bi.pushed)
		d := bi.manifest
		d.Platform = &bi.platform
		idx.Manifests = append(idx.Manifests, d)
	}
	data, err := json.Marshal(idx)
	if err != nil {
		t.Fatalf("index: %v", err)
	}
	desc := ocispec.Descriptor{MediaType: idx.MediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	r.pushManifest(t, repoName, desc, data, tag)
	index = Pushed{
		Ref:            r.Host + "/" + repoName + ":" + tag,
		ManifestDigest: desc.Digest,
		Manifest:       data,
	}
	return index, children
}
