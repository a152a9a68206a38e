package imagearchive

import (
	"archive/tar"
	"encoding/json"
	"time"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// SavedImage is one image as WriteMeta lists it.
type SavedImage struct {
	Manifest ocispec.Descriptor   // with the platform of the image
	Config   ocispec.Descriptor   // the image config
	Layers   []ocispec.Descriptor // in order, as the manifest lists them
	Names    []SavedName          // none for an untagged image
}

// SavedName is one name of a saved image, in the three spellings the
// layouts use.
type SavedName struct {
	Full     string // "docker.io/library/redis:7": io.containerd.image.name
	Tag      string // "7": org.opencontainers.image.ref.name
	Familiar string // "redis:7": RepoTags of manifest.json
}

// WriteMeta writes the directories, oci-layout, index.json (one entry
// per name, or one unnamed entry) and manifest.json of an archive holding
// imgs; the blobs follow, at BlobPath.
func WriteMeta(tw *tar.Writer, imgs []SavedImage) error {
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{},
	}
	var items []ManifestItem
	for _, img := range imgs {
		item := ManifestItem{Config: BlobPath(img.Config.Digest), Layers: []string{}}
		for _, l := range img.Layers {
			item.Layers = append(item.Layers, BlobPath(l.Digest))
		}
		if len(img.Names) == 0 {
			index.Manifests = append(index.Manifests, img.Manifest)
		}
		for _, n := range img.Names {
			d := img.Manifest
			d.Annotations = map[string]string{AnnotationImageName: n.Full, ocispec.AnnotationRefName: n.Tag}
			index.Manifests = append(index.Manifests, d)
			item.RepoTags = append(item.RepoTags, n.Familiar)
		}
		items = append(items, item)
	}
	layout, err := json.Marshal(Layout{Version: LayoutVersion})
	if err != nil {
		return err
	}
	idx, err := json.Marshal(index)
	if err != nil {
		return err
	}
	man, err := json.Marshal(items)
	if err != nil {
		return err
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(Header(dir, tar.TypeDir, 0)); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{LayoutFile, layout}, {IndexFile, idx}, {ManifestFile, man}} {
		if err := tw.WriteHeader(Header(f.name, tar.TypeReg, int64(len(f.data)))); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return nil
}

// Header is the header of an archive entry: owned by root, dated the
// epoch, so that saving the same images twice gives the same bytes.
func Header(name string, typ byte, size int64) *tar.Header {
	mode := int64(0o644)
	if typ == tar.TypeDir {
		mode = 0o755
	}
	return &tar.Header{Typeflag: typ, Name: name, Size: size, Mode: mode, ModTime: time.Unix(0, 0)}
}
