package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"
)

// Resolve's refusals.
var (
	ErrNoImage   = errors.New("no such image")
	ErrAmbiguous = errors.New("ambiguous image name")
)

// Name is a user's string that names an image, as the caller read it: a
// reference (parsed and normalised by the caller), an image ID or ID
// prefix ("sha256:" optional), or both at once.
type Name struct {
	Ref    string        // as given
	IsID   bool          // it has the form of an image ID or ID prefix
	IsRef  bool          // it parsed as a reference: the fields below are set
	Repo   string        // "domain/path"
	Tag    string        // the tag, "" with a digest
	Digest digest.Digest // the digest a reference pins
}

// Resolve finds the record n names: by tag or digest (a manifest, index
// or repository digest), by image ID or unique ID prefix, or by a whole
// manifest digest. tag is the normalised tag when n named one.
//
// An ID form always means an ID: "sha256:..." is never read as a tag (no
// tag can have the repository "sha256": hull's ParseReference refuses
// it), and a bare hex string that is both a tag's name and the prefix of
// another image's ID is refused as ambiguous rather than read as the tag,
// as Docker would: a tag must not stand in for an ID a user copied.
func (ix *Index) Resolve(n Name) (rec *ImageRecord, tag string, err error) {
	var byTag *ImageRecord
	if n.IsRef {
		if n.Digest != "" {
			return ix.byDigest(n)
		}
		if t := ix.Tags[n.Repo+":"+n.Tag]; t != nil {
			byTag, tag = ix.Images[t.Digest], n.Repo+":"+n.Tag
		}
	}
	if !n.IsID {
		if byTag == nil {
			return nil, "", fmt.Errorf("image %s: %w", n.Ref, ErrNoImage)
		}
		return byTag, tag, nil
	}
	byID, err := ix.byID(n.Ref)
	switch {
	case err != nil:
		return nil, "", err
	case byTag != nil && byID != nil && byTag.Config != byID.Config:
		return nil, "", fmt.Errorf("%w: %q is both a tag and the prefix of image ID %s: name %s:%s or sha256:%s", ErrAmbiguous, n.Ref, byID.Config, n.Ref, n.Tag, n.Ref)
	case byTag != nil:
		return byTag, tag, nil
	case byID != nil:
		return byID, "", nil
	}
	return nil, "", fmt.Errorf("image %s: %w", n.Ref, ErrNoImage)
}

// byDigest finds the image of a reference that pins a digest: of its
// manifest or the index it was chosen from, or the digest a push made
// (compressing the layers) of the image in that repository.
func (ix *Index) byDigest(n Name) (*ImageRecord, string, error) {
	for _, rec := range ix.Images {
		if rec.Manifest == n.Digest || rec.Index == n.Digest {
			return rec, "", nil
		}
	}
	for _, rec := range ix.Images {
		if slices.Contains(rec.RepoDigests, n.Repo+"@"+n.Digest.String()) {
			return rec, "", nil
		}
	}
	return nil, "", fmt.Errorf("image %s: %w", n.Ref, ErrNoImage)
}

// byID finds the image whose ID starts with ref ("sha256:" optional), the
// most recently added of those with that ID, or, for a whole digest, the
// image of that manifest; nil if none.
func (ix *Index) byID(ref string) (*ImageRecord, error) {
	prefix := strings.TrimPrefix(ref, "sha256:")
	var found *ImageRecord
	for _, rec := range ix.Images {
		if strings.HasPrefix(rec.Config.Encoded(), prefix) {
			if found != nil && found.Config != rec.Config {
				return nil, fmt.Errorf("%w: image ID prefix %q is ambiguous", ErrAmbiguous, ref)
			}
			if found == nil || found.Added.Before(rec.Added) {
				found = rec
			}
		}
	}
	if found == nil && len(prefix) == 64 {
		// A whole digest may also be a manifest digest, as TagHistory
		// gives them.
		found = ix.Images[digest.NewDigestFromEncoded(digest.SHA256, prefix)]
	}
	return found, nil
}
