// Package imageref parses image references ("redis:7",
// "localhost:5000/a/b@sha256:...") with Docker's normalisation, the
// grammar of github.com/distribution/reference (its ParseNormalizedNamed,
// FamiliarName, FamiliarString and IsNameOnly), in plain code.
//
// Why not that package: it compiles its regular expressions in package
// variables, so every program that links it pays for them at start-up
// (1.3 ms and 400 KB on a small VM, the largest init of the hull CLI)
// whether it parses a reference or not. This parser does the same work
// on demand in a few hundred nanoseconds; its tests compare it with
// distribution/reference on fixed cases and under fuzzing, error texts
// included.
package imageref

import (
	"errors"
	"fmt"
	"strings"

	digest "github.com/opencontainers/go-digest"
)

// Errors, with distribution/reference's texts: callers print them.
var (
	// ErrInvalidFormat is a reference that does not match the grammar.
	ErrInvalidFormat = errors.New("invalid reference format")
	// ErrUppercase is a reference that would match the grammar in lower case.
	ErrUppercase = errors.New("repository name must be lowercase")
	// ErrNameTooLong is a repository path longer than MaxPathLen.
	ErrNameTooLong = fmt.Errorf("repository name must not be more than %d characters", MaxPathLen)
)

// MaxPathLen is the longest repository path (without its domain).
const MaxPathLen = 255

// maxTagLen is the longest tag.
const maxTagLen = 128

const (
	defaultDomain = "docker.io"
	legacyDomain  = "index.docker.io"
	officialRepo  = "library/"
)

// Ref is a parsed reference. Domain is empty only for a name whose first
// component cannot be a host ("a_b.com/x"), which distribution/reference
// accepts as a path.
type Ref struct {
	Domain string
	Path   string
	Tag    string
	Digest digest.Digest
}

// Name returns domain/path, or the path alone when there is no domain.
func (r Ref) Name() string {
	if r.Domain == "" {
		return r.Path
	}
	return r.Domain + "/" + r.Path
}

// String returns name[:tag][@digest].
func (r Ref) String() string { return withTagDigest(r.Name(), r.Tag, r.Digest) }

// NameOnly reports whether r has neither tag nor digest.
func (r Ref) NameOnly() bool { return r.Tag == "" && r.Digest == "" }

// FamiliarName returns the name as Docker shows it: without the
// docker.io domain, and without library/ for a one-component official
// image.
func (r Ref) FamiliarName() string {
	if r.Domain != defaultDomain {
		return r.Name()
	}
	if rest, ok := strings.CutPrefix(r.Path, officialRepo); ok && !strings.Contains(rest, "/") {
		return rest
	}
	return r.Path
}

// FamiliarString returns FamiliarName with r's tag and digest.
func (r Ref) FamiliarString() string { return withTagDigest(r.FamiliarName(), r.Tag, r.Digest) }

func withTagDigest(name, tag string, d digest.Digest) string {
	if tag != "" {
		name += ":" + tag
	}
	if d != "" {
		name += "@" + string(d)
	}
	return name
}

// ParseNormalized parses s as distribution/reference's
// ParseNormalizedNamed does: a name without a domain is on docker.io, a
// one-component name there is under library/, and index.docker.io is
// docker.io. The tag is not defaulted. Errors have that function's texts.
func ParseNormalized(s string) (Ref, error) {
	if isHex64(s) {
		return Ref{}, fmt.Errorf("invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s)
	}
	domain, rest := splitDockerDomain(s)
	remote := rest
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		remote = rest[:i]
	}
	if strings.ToLower(remote) != remote {
		return Ref{}, fmt.Errorf("invalid reference format: repository name (%s) must be lowercase", remote)
	}
	return parse(domain + "/" + rest)
}

// splitDockerDomain splits s into a domain and the rest, defaulting the
// domain (and library/) as Docker does.
func splitDockerDomain(s string) (domain, rest string) {
	first, after, ok := strings.Cut(s, "/")
	switch {
	case !ok:
		domain, rest = defaultDomain, s
	case first == legacyDomain: // before the rule for dots
		domain, rest = defaultDomain, after
	case first == "localhost", strings.ContainsAny(first, ".:"), strings.ToLower(first) != first:
		domain, rest = first, after
	default:
		domain, rest = defaultDomain, s
	}
	if domain == defaultDomain && !strings.Contains(rest, "/") {
		rest = officialRepo + rest
	}
	return domain, rest
}

// parse parses a whole reference, name[:tag][@digest], where the name is
// [host[:port]/]path.
func parse(s string) (Ref, error) {
	r, ok := match(s)
	if !ok {
		if _, ok := match(strings.ToLower(s)); ok {
			return Ref{}, ErrUppercase
		}
		return Ref{}, ErrInvalidFormat
	}
	if len(r.Path) > MaxPathLen {
		return Ref{}, ErrNameTooLong
	}
	if r.Digest != "" {
		if err := r.Digest.Validate(); err != nil {
			return Ref{}, err
		}
	}
	return r, nil
}

// match splits s by the grammar alone; the digest is not validated.
func match(s string) (Ref, bool) {
	var r Ref
	// No part but the digest may hold '@'.
	s, d, hasDigest := strings.Cut(s, "@")
	if hasDigest {
		if !isDigest(d) {
			return Ref{}, false
		}
		r.Digest = digest.Digest(d)
	}
	// A tag follows the first ':' after the last '/': a path has no ':',
	// and a port is only in the first component.
	if i := strings.IndexByte(s[strings.LastIndexByte(s, '/')+1:], ':'); i >= 0 {
		i += strings.LastIndexByte(s, '/') + 1
		if !isTag(s[i+1:]) {
			return Ref{}, false
		}
		s, r.Tag = s[:i], s[i+1:]
	}
	// The first component is a domain when it can be one and the rest is
	// a path; otherwise the whole name must be a path.
	if first, rest, ok := strings.Cut(s, "/"); ok && isDomain(first) && isPath(rest) {
		r.Domain, r.Path = first, rest
		return r, true
	}
	if !isPath(s) {
		return Ref{}, false
	}
	r.Path = s
	return r, true
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func isAlnum(c byte) bool { return isLowerAlnum(c) || 'A' <= c && c <= 'Z' }

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// isHex64 reports whether s is 64 lower-case hexadecimal digits.
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isPath reports whether s is components separated by '/', each runs of
// [a-z0-9] joined by ".", "_", "__" or any number of '-'.
func isPath(s string) bool {
	for {
		comp, rest, more := strings.Cut(s, "/")
		if !isPathComponent(comp) {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

func isPathComponent(s string) bool {
	if s == "" || !isLowerAlnum(s[0]) || !isLowerAlnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); {
		if isLowerAlnum(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && !isLowerAlnum(s[j]) {
			j++
		}
		switch sep := s[i:j]; {
		case sep == ".", sep == "_", sep == "__", strings.Trim(sep, "-") == "":
		default:
			return false
		}
		i = j
	}
	return true
}

// isDomain reports whether s is a host (DNS name or bracketed IPv6
// address) with an optional numeric port.
func isDomain(s string) bool {
	host := s
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 2 {
			return false
		}
		for i := 1; i < end; i++ {
			if c := s[i]; !isHexDigit(c) && c != ':' {
				return false
			}
		}
		host, s = "", s[end+1:]
		if s == "" {
			return true
		}
		if s[0] != ':' {
			return false
		}
		return isDigits(s[1:])
	}
	if h, port, ok := strings.Cut(s, ":"); ok {
		if !isDigits(port) {
			return false
		}
		host = h
	}
	for {
		label, rest, more := strings.Cut(host, ".")
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := range len(label) {
			if !isAlnum(label[i]) && label[i] != '-' {
				return false
			}
		}
		if !more {
			return true
		}
		host = rest
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isTag reports whether s is a word character followed by at most 127
// word characters, '.' or '-'.
func isTag(s string) bool {
	if s == "" || len(s) > maxTagLen || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// isDigest reports whether s is algorithm:hex by the reference grammar:
// components of a letter then letters and digits, joined by one of
// "-_+.", then at least 32 hexadecimal digits.
func isDigest(s string) bool {
	alg, enc, ok := strings.Cut(s, ":")
	if !ok || len(enc) < 32 {
		return false
	}
	for i := range len(enc) {
		if !isHexDigit(enc[i]) {
			return false
		}
	}
	start := true // at the start of a component
	for i := range len(alg) {
		c := alg[i]
		switch {
		case start && !isAlpha(c):
			return false
		case start:
			start = false
		case c == '-' || c == '_' || c == '+' || c == '.':
			start = true
		case !isAlnum(c):
			return false
		}
	}
	return alg != "" && !start
}
