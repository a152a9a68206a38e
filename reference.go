package hull

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/distribution/reference"
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

// hex64 is a whole image ID without its algorithm.
var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ParseReference parses and normalises s. A malformed reference returns an
// error wrapping ErrInvalidReference that names s.
//
// As Docker does, it refuses a repository whose short name (as `docker
// images` shows it) is a digest algorithm ("sha256", so "sha256:<id>"
// would be a tag) or 64 hexadecimal characters: such a tag could stand
// for an image ID. Every path that names an image (Tag, Commit, Import,
// Load, Pull) parses with it, so none can create one.
func ParseReference(s string) (Reference, error) {
	if s == "" || strings.TrimSpace(s) != s {
		return Reference{}, fmt.Errorf("%w: %q", ErrInvalidReference, s)
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Reference{}, fmt.Errorf("%w: %q: %v", ErrInvalidReference, s, err)
	}
	if name := reference.FamiliarName(named); isIDName(name) {
		return Reference{}, fmt.Errorf("%w: %q: %w", ErrInvalidReference, s, errIDName)
	}
	r := Reference{Domain: reference.Domain(named), Path: reference.Path(named)}
	if t, ok := named.(reference.Tagged); ok {
		r.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		r.Digest = d.Digest()
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
	return digest.Algorithm(name).Available() || hex64.MatchString(name)
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
// docker.io/library/redis:7, the full form for other registries.
func (r Reference) Familiar() string {
	named, err := reference.ParseNormalizedNamed(r.String())
	if err != nil {
		return r.String()
	}
	return reference.FamiliarString(named)
}

// tagged returns name:tag (empty when r has no tag).
func (r Reference) tagged() string {
	if r.Tag == "" {
		return ""
	}
	return r.Name() + ":" + r.Tag
}

// familiarName shortens a stored "domain/path:tag" or "domain/path@digest"
// string for display; it returns s unchanged if it does not parse.
func familiarName(s string) string {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return s
	}
	return reference.FamiliarString(named)
}
