package imagearchive

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/hullbox/hull/internal/manifest"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The files of the two layouts (see the package comment).
const (
	LayoutFile    = "oci-layout"    // OCI layout marker
	IndexFile     = "index.json"    // OCI index
	ManifestFile  = "manifest.json" // docker save manifest
	LayoutVersion = "1.0.0"         // the OCI layout version written and read

	// AnnotationImageName is the full image name on an index entry, as
	// containerd and Docker write it; ocispec.AnnotationRefName holds the
	// tag alone next to it.
	AnnotationImageName = "io.containerd.image.name"
)

// Limits on what an archive may hold: anything beyond them is hostile.
const (
	MaxEntries    = 1 << 17 // files, links and directories
	MaxImages     = 1 << 12 // images named by index.json or manifest.json
	MaxIndexDepth = 4       // nested indexes followed from index.json
)

// Errors the package's refusals wrap. Their messages are those of hull's
// ErrInvalidContent and ErrUnsupported, which callers map them to.
var (
	// ErrInvalid marks an archive that is malformed or hostile; it is
	// manifest.ErrInvalid, which a bad manifest or config in it wraps.
	ErrInvalid = manifest.ErrInvalid
	// ErrUnsupported marks content that is well formed but that hull
	// cannot use (a digest algorithm other than sha256, a layout version).
	ErrUnsupported = errors.New("unsupported")
)

// ManifestItem is one image of a docker save manifest.json. Paths are
// relative to the archive's root.
type ManifestItem struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// Layout is the content of the oci-layout file.
type Layout struct {
	Version string `json:"imageLayoutVersion"`
}

// DockerImage is one image of a docker save manifest.json, checked: its
// paths are clean and inside the archive, its tags normalised by the
// caller's function, once each.
type DockerImage struct {
	Config string
	Layers []string
	Tags   []string
}

// ParseDockerManifest reads a docker save manifest.json. It refuses a
// path that leaves the archive, and a RepoTags entry that tag (which
// returns the normalised tag) refuses; what the paths name is checked
// later, against the archive.
func ParseDockerManifest(data []byte, tag func(string) (string, error)) ([]DockerImage, error) {
	var items []ManifestItem
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, ManifestFile, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: %s lists no image", ErrInvalid, ManifestFile)
	}
	if len(items) > MaxImages {
		return nil, fmt.Errorf("%w: %s lists more than %d images", ErrInvalid, ManifestFile, MaxImages)
	}
	out := make([]DockerImage, 0, len(items))
	for i, it := range items {
		img, err := checkItem(it, tag)
		if err != nil {
			return nil, fmt.Errorf("%s: image %d: %w", ManifestFile, i, err)
		}
		out = append(out, img)
	}
	return out, nil
}

// checkItem checks one item of manifest.json (ParseDockerManifest).
func checkItem(it ManifestItem, tag func(string) (string, error)) (DockerImage, error) {
	var img DockerImage
	var err error
	if img.Config, err = CleanName(it.Config); err != nil {
		return img, fmt.Errorf("config: %w", err)
	}
	for _, l := range it.Layers {
		name, err := CleanName(l)
		if err != nil {
			return img, fmt.Errorf("layer: %w", err)
		}
		img.Layers = append(img.Layers, name)
	}
	for _, t := range it.RepoTags {
		n, err := tag(t)
		if err != nil {
			return img, fmt.Errorf("RepoTags: %w", err)
		}
		if !slices.Contains(img.Tags, n) {
			img.Tags = append(img.Tags, n)
		}
	}
	return img, nil
}

// ParseIndex reads an OCI layout's index.json and returns its entries.
// Every entry must have a sha256 digest and a size that can be right; the
// blob it names is checked later, against the archive, and what its
// annotations name is the caller's to read.
func ParseIndex(data []byte) ([]ocispec.Descriptor, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, IndexFile, err)
	}
	if len(idx.Manifests) == 0 {
		return nil, fmt.Errorf("%w: %s lists no image", ErrInvalid, IndexFile)
	}
	if len(idx.Manifests) > MaxImages {
		return nil, fmt.Errorf("%w: %s lists more than %d images", ErrInvalid, IndexFile, MaxImages)
	}
	for i, d := range idx.Manifests {
		if err := CheckDescriptor(d); err != nil {
			return nil, fmt.Errorf("%s: entry %d: %w", IndexFile, i, err)
		}
	}
	return idx.Manifests, nil
}

// CheckDescriptor checks what a descriptor says of its blob: a valid
// sha256 digest (the only algorithm hull stores) and a size.
func CheckDescriptor(d ocispec.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: digest %.80q: %v", ErrInvalid, d.Digest, err)
	}
	if d.Digest.Algorithm() != digest.SHA256 {
		return fmt.Errorf("%w: digest algorithm %s", ErrUnsupported, d.Digest.Algorithm())
	}
	if d.Size < 0 {
		return fmt.Errorf("%w: blob %s: negative size %d", ErrInvalid, d.Digest, d.Size)
	}
	return nil
}

// BlobPath is where an archive keeps blob d.
func BlobPath(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

// BlobDigest returns the digest an archive path names ("blobs/sha256/<hex>"),
// or "" if the path is not a sha256 blob's.
func BlobDigest(name string) digest.Digest {
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

// CleanName cleans a name found in an archive (a tar entry, a link
// target, a path in manifest.json) to a slash-separated path relative to
// the archive's root. Absolute names and names escaping the root are
// refused: no tool writes them, so an archive holding one is hostile.
func CleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("%w: empty name in the archive", ErrInvalid)
	case len(name) > 4096 || strings.IndexByte(name, 0) >= 0:
		return "", fmt.Errorf("%w: malformed name %.64q in the archive", ErrInvalid, name)
	case strings.HasPrefix(name, "/"):
		return "", fmt.Errorf("%w: absolute path %.256q in the archive", ErrInvalid, name)
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%w: path %.256q escapes the archive", ErrInvalid, name)
	}
	return clean, nil
}
