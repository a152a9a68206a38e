package hull

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hullbox/hull/internal/imagearchive"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// archiveErr maps the refusals of internal/imagearchive (and of
// internal/manifest, which it reads manifests with) to hull's sentinels.
func archiveErr(err error) error {
	err = alsoIs(err, imagearchive.ErrInvalid, ErrInvalidContent)
	return manifestErr(alsoIs(err, imagearchive.ErrUnsupported, ErrUnsupported))
}

// repoTag normalises a RepoTags entry of manifest.json to the tag Load
// sets ("domain/path:tag"). It refuses a digest, and a name that reads as
// an image ID (ErrInvalidReference too).
func repoTag(t string) (string, error) {
	r, err := ParseReference(t)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidContent, err)
	}
	if r.Digest != "" {
		return "", fmt.Errorf("%w: %.256q is not a tag", ErrInvalidContent, t)
	}
	return r.tagged(), nil
}

// entryTag returns the tag ("domain/path:tag", normalised) an index.json
// entry names, or "" for an untagged entry. io.containerd.image.name
// (Docker, containerd) holds the full name; without it, a ref.name that
// is a whole reference ("app:1", as skopeo writes it) is used. A bare
// ref.name ("latest", as umoci writes it) names no repository, so the
// image is loaded untagged.
func entryTag(desc ocispec.Descriptor) (string, error) {
	if name := desc.Annotations[imagearchive.AnnotationImageName]; name != "" {
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
