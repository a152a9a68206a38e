package hull

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hullbox/hull/internal/imageref"
	digest "github.com/opencontainers/go-digest"
)

// Reference is a parsed, normalised image reference, as Docker normalises
// them: "redis" is docker.io/library/redis:latest, "localhost:5000/a/b:t"
// stays as written, and "name@sha256:..." pins a digest.
type Reference struct {
	Domain string        // registry host[:port], e.g. "docker.io"
	Path   string        // repository path, e.g. "library/redis"
	Tag    string        // tag; "latest" when neither tag nor digest was given
	Digest digest.Digest // set when the reference pins a digest
}

// errIDName is wrapped (with ErrInvalidReference) by ParseReference's
// error for a repository name that reads as an image ID.
var errIDName = errors.New("a repository name cannot be a digest algorithm or 64 hexadecimal characters, which name image IDs")

// maxReferenceLen is the longest a reference can be: a 255-character name
// (distribution/reference's limit), a 128-character tag and a sha512
// digest. Longer input is refused before it is parsed, and so before an
// error could quote it whole.
const maxReferenceLen = 255 + 1 + 128 + 1 + len("sha512:") + 128

// isHex64 reports whether s is a whole image ID without its algorithm:
// 64 lower-case hexadecimal digits. (Plain code, not a package-level
// regexp: that would be compiled at every start of every program.)
func isHex64(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

// ParseReference parses and normalises s. A malformed reference returns an
// error wrapping ErrInvalidReference that names s (its first 256
// characters: s may come from a hostile archive).
//
// As Docker does, it refuses a repository whose short name (as `docker
// images` shows it) is a digest algorithm ("sha256", so "sha256:<id>"
// would be a tag) or 64 hexadecimal characters: such a tag could stand
// for an image ID. Every path that names an image (Tag, Commit, Import,
// Load, Pull) parses with it, so none can create one.
func ParseReference(s string) (Reference, error) {
	if s == "" || strings.TrimSpace(s) != s {
		return Reference{}, fmt.Errorf("%w: %.256q", ErrInvalidReference, s)
	}
	if len(s) > maxReferenceLen {
		return Reference{}, fmt.Errorf("%w: %.64q...: %d bytes, longer than any reference", ErrInvalidReference, s, len(s))
	}
	named, err := imageref.ParseNormalized(s)
	if err != nil {
		return Reference{}, fmt.Errorf("%w: %.256q: %v", ErrInvalidReference, s, err)
	}
	if isIDName(named.FamiliarName()) {
		return Reference{}, fmt.Errorf("%w: %.256q: %w", ErrInvalidReference, s, errIDName)
	}
	r := Reference{Domain: named.Domain, Path: named.Path, Tag: named.Tag, Digest: named.Digest}
	if r.Domain == "" {
		// distribution/reference reads "a_b.com/x" as a name with no
		// registry at all: a first component with a dot or a colon names
		// a host, and this one cannot be.
		host, _, _ := strings.Cut(s, "/")
		return Reference{}, fmt.Errorf("%w: %.256q: %q is not a valid registry host", ErrInvalidReference, s, host)
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, nil
}

// isIDName reports whether a repository's short name could be read as
// (part of) an image ID: a digest algorithm or a whole hex digest.
func isIDName(name string) bool {
	switch digest.Algorithm(name) {
	case digest.SHA256, digest.SHA384, digest.SHA512:
		return true
	}
	return digest.Algorithm(name).Available() || isHex64(name)
}

// Name returns "domain/path", e.g. "docker.io/library/redis".
func (r Reference) Name() string { return r.Domain + "/" + r.Path }

// String returns the full normalised form: name:tag, name@digest or
// name:tag@digest.
func (r Reference) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// Familiar returns the short form Docker prints: "redis:7" for
// docker.io/library/redis:7, the full form for other registries. Unlike
// Docker, a Docker Hub name whose first component reads as a host keeps
// its full form: "docker.io/ghcr.io/org/app" would shorten to
// "ghcr.io/org/app", another registry's repository (and Save, which
// writes this form, would rename the image).
func (r Reference) Familiar() string {
	return familiarName(r.String())
}

// tagged returns name:tag (empty when r has no tag).
func (r Reference) tagged() string {
	if r.Tag == "" {
		return ""
	}
	return r.Name() + ":" + r.Tag
}

// familiarName shortens a stored "domain/path:tag" or "domain/path@digest"
// string as Familiar does; it returns s unchanged if it does not parse.
func familiarName(s string) string {
	named, err := imageref.ParseNormalized(s)
	if err != nil {
		return s
	}
	short := named.FamiliarString()
	if again, err := imageref.ParseNormalized(short); err != nil || again.String() != named.String() {
		return named.String() // the short form names something else
	}
	return short
}
