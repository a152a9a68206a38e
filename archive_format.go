package hull

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// An image archive (Save, Load) holds two layouts over one set of blobs,
// as Docker 25 and later write it:
//
//	oci-layout              {"imageLayoutVersion":"1.0.0"}
//	index.json              OCI index: one entry per image and name
//	manifest.json           docker save: [{Config, RepoTags, Layers}]
//	blobs/sha256/<hex>      manifests, configs and layer blobs, once each
//
// Older docker save archives and skopeo's docker-archive name their files
// freely (<id>/layer.tar, <hex>.json, <hex>.tar) and may link one name to
// another; manifest.json says which file is what.
const (
	ociLayoutFile      = "oci-layout"
	ociIndexFile       = "index.json"
	dockerManifestFile = "manifest.json"
	ociLayoutVersion   = "1.0.0"

	// annotationImageName is the full image name on an index entry, as
	// containerd and Docker write it; ocispec.AnnotationRefName holds the
	// tag alone next to it.
	annotationImageName = "io.containerd.image.name"

	mediaTypeDockerLayerTar = "application/vnd.docker.image.rootfs.diff.tar"
)

// Limits on what an archive may hold: anything beyond them is hostile.
const (
	maxArchiveEntries = 1 << 17 // files, links and directories
	maxArchiveImages  = 1 << 12 // images named by index.json or manifest.json
	maxIndexDepth     = 4       // nested indexes followed from index.json
)

// dockerManifestItem is one image of a docker save manifest.json. Paths
// are relative to the archive's root.
type dockerManifestItem struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// dockerImage is one image of a docker save manifest.json, checked: its
// paths are clean and inside the archive, its tags normalised
// ("domain/path:tag"), once each.
type dockerImage struct {
	config string
	layers []string
	tags   []string
}

// parseDockerManifest reads a docker save manifest.json. It refuses a
// path that leaves the archive and a RepoTags entry that is not a tag
// (a digest, or a name that reads as an image ID: ErrInvalidReference
// too); what the paths name is checked later, against the archive.
func parseDockerManifest(data []byte) ([]dockerImage, error) {
	var items []dockerManifestItem
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidContent, dockerManifestFile, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: %s lists no image", ErrInvalidContent, dockerManifestFile)
	}
	if len(items) > maxArchiveImages {
		return nil, fmt.Errorf("%w: %s lists more than %d images", ErrInvalidContent, dockerManifestFile, maxArchiveImages)
	}
	out := make([]dockerImage, 0, len(items))
	for i, it := range items {
		img, err := checkDockerItem(it)
		if err != nil {
			return nil, fmt.Errorf("%s: image %d: %w", dockerManifestFile, i, err)
		}
		out = append(out, img)
	}
	return out, nil
}

// checkDockerItem checks one item of manifest.json (parseDockerManifest).
func checkDockerItem(it dockerManifestItem) (dockerImage, error) {
	var img dockerImage
	var err error
	if img.config, err = archiveName(it.Config); err != nil {
		return img, fmt.Errorf("config: %w", err)
	}
	for _, l := range it.Layers {
		name, err := archiveName(l)
		if err != nil {
			return img, fmt.Errorf("layer: %w", err)
		}
		img.layers = append(img.layers, name)
	}
	for _, t := range it.RepoTags {
		r, err := ParseReference(t)
		if err != nil {
			return img, fmt.Errorf("%w: RepoTags: %w", ErrInvalidContent, err)
		}
		if r.Digest != "" {
			return img, fmt.Errorf("%w: RepoTags: %.256q is not a tag", ErrInvalidContent, t)
		}
		if !slices.Contains(img.tags, r.tagged()) {
			img.tags = append(img.tags, r.tagged())
		}
	}
	return img, nil
}

// indexEntry is one image an OCI layout's index.json lists, with the tag
// its annotations name ("" for none).
type indexEntry struct {
	desc ocispec.Descriptor
	tag  string
}

// parseOCIIndex reads an OCI layout's index.json. Every entry must have a
// sha256 digest and a size that can be right; the blob it names is
// checked later, against the archive.
func parseOCIIndex(data []byte) ([]indexEntry, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidContent, ociIndexFile, err)
	}
	if len(idx.Manifests) == 0 {
		return nil, fmt.Errorf("%w: %s lists no image", ErrInvalidContent, ociIndexFile)
	}
	if len(idx.Manifests) > maxArchiveImages {
		return nil, fmt.Errorf("%w: %s lists more than %d images", ErrInvalidContent, ociIndexFile, maxArchiveImages)
	}
	out := make([]indexEntry, 0, len(idx.Manifests))
	for i, d := range idx.Manifests {
		if err := checkDescriptor(d); err != nil {
			return nil, fmt.Errorf("%s: entry %d: %w", ociIndexFile, i, err)
		}
		tag, err := entryTag(d)
		if err != nil {
			return nil, err
		}
		out = append(out, indexEntry{desc: d, tag: tag})
	}
	return out, nil
}

// checkDescriptor checks what a descriptor says of its blob: a valid
// sha256 digest (the only algorithm hull stores) and a size.
func checkDescriptor(d ocispec.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: digest %.80q: %v", ErrInvalidContent, d.Digest, err)
	}
	if d.Digest.Algorithm() != digest.SHA256 {
		return fmt.Errorf("%w: digest algorithm %s", ErrUnsupported, d.Digest.Algorithm())
	}
	if d.Size < 0 {
		return fmt.Errorf("%w: blob %s: negative size %d", ErrInvalidContent, d.Digest, d.Size)
	}
	return nil
}

// ociLayout is the content of the oci-layout file.
type ociLayout struct {
	Version string `json:"imageLayoutVersion"`
}

// blobPath is where an archive keeps blob d.
func blobPath(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

// blobDigest returns the digest an archive path names ("blobs/sha256/<hex>"),
// or "" if the path is not a sha256 blob's.
func blobDigest(name string) digest.Digest {
	hex, ok := strings.CutPrefix(name, "blobs/sha256/")
	if !ok {
		return ""
	}
	d := digest.NewDigestFromEncoded(digest.SHA256, hex)
	if d.Validate() != nil {
		return ""
	}
	return d
}

// archiveName cleans a name found in an archive (a tar entry, a link
// target, a path in manifest.json) to a slash-separated path relative to
// the archive's root. Absolute names and names escaping the root are
// refused: no tool writes them, so an archive holding one is hostile.
func archiveName(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("%w: empty name in the archive", ErrInvalidContent)
	case len(name) > 4096 || strings.IndexByte(name, 0) >= 0:
		return "", fmt.Errorf("%w: malformed name %.64q in the archive", ErrInvalidContent, name)
	case strings.HasPrefix(name, "/"):
		return "", fmt.Errorf("%w: absolute path %.256q in the archive", ErrInvalidContent, name)
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%w: path %.256q escapes the archive", ErrInvalidContent, name)
	}
	return clean, nil
}

// entryTag returns the tag ("domain/path:tag", normalised) an index.json
// entry names, or "" for an untagged entry. io.containerd.image.name
// (Docker, containerd) holds the full name; without it, a ref.name that
// is a whole reference ("app:1", as skopeo writes it) is used. A bare
// ref.name ("latest", as umoci writes it) names no repository, so the
// image is loaded untagged.
func entryTag(desc ocispec.Descriptor) (string, error) {
	if name := desc.Annotations[annotationImageName]; name != "" {
		r, err := ParseReference(name)
		if err != nil {
			return "", fmt.Errorf("%w: index.json entry %s: %w", ErrInvalidContent, desc.Digest, err)
		}
		return r.tagged(), nil
	}
	name := desc.Annotations[ocispec.AnnotationRefName]
	if !strings.ContainsAny(name, ":/") {
		return "", nil
	}
	r, err := ParseReference(name)
	if errors.Is(err, errIDName) {
		// "sha256:<id>" would make a tag that reads as an image ID.
		return "", fmt.Errorf("%w: index.json entry %s: %w", ErrInvalidContent, desc.Digest, err)
	}
	if err != nil {
		return "", nil // a ref.name is free text; only a reference names
	}
	return r.tagged(), nil
}
