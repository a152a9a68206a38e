package hull

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseReference: ParseReference never panics; what it refuses wraps
// ErrInvalidReference with a bounded message; what it accepts is complete,
// round-trips through String, Familiar and its tag, and has no short name
// that reads as an image ID (lookups would mistake one for the other).
func FuzzParseReference(f *testing.F) {
	const hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	for _, s := range []string{
		"redis", "redis:7", "library/redis:7", "docker.io/library/redis:7", "index.docker.io/redis",
		"localhost:5000/a/b:t", "localhost/x", "ghcr.io/org/img:v1.2", "[::1]:5000/x:y",
		"redis@sha256:" + hex, "q.io/a:1@sha256:" + hex, "a@sha512:" + hex + hex, "redis@sha256:e3b0",
		"sha256:" + hex, "docker.io/library/sha256:" + hex, "sha256", "sha512:x", hex, hex + ":latest",
		hex + ".io:5000/x", "user/sha256:1", "localhost/sha256:1", "e3b0c44298fc",
		"Redis", "a//b", "a/", ":7", "@sha256:" + hex, "", " redis", "redis:" + strings.Repeat("t", 129),
		strings.Repeat("a", 256), "a:b:c", "a@b@c", "xn--bcher-kva.example/a_b__c-d.e:T.1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidReference) {
				t.Fatalf("ParseReference(%q): %v, not ErrInvalidReference", s, err)
			}
			if len(err.Error()) > 3072 { // bounded: never the whole of a long input
				t.Fatalf("ParseReference(%.64q...): a %d-byte error", s, len(err.Error()))
			}
			return
		}
		if r.Domain == "" || r.Path == "" || (r.Tag == "" && r.Digest == "") {
			t.Fatalf("ParseReference(%q) = %#v: incomplete", s, r)
		}
		if r.Digest != "" && r.Digest.Validate() != nil {
			t.Fatalf("ParseReference(%q) = %#v: invalid digest", s, r)
		}
		for _, form := range []string{r.String(), r.Familiar()} {
			again, err := ParseReference(form)
			if err != nil || again != r {
				t.Fatalf("ParseReference(%q) = %#v; its form %q parses to %#v, %v", s, r, form, again, err)
			}
		}
		if name := shortName(r); name == "sha256" || name == "sha384" || name == "sha512" || isHex64(name) {
			t.Fatalf("ParseReference(%q) accepted %#v, whose short name %q reads as an image ID", s, r, name)
		}
		if r.Tag == "" {
			return
		}
		tag := r.tagged()
		if again, err := ParseReference(tag); err != nil || again.tagged() != tag || again.Digest != "" {
			t.Fatalf("tag %q of %q parses to %#v, %v", tag, s, again, err)
		}
	})
}

// shortName is the repository name `docker images` shows for r, worked
// out here rather than by the library ParseReference uses.
func shortName(r Reference) string {
	if r.Domain != "docker.io" {
		return r.Name()
	}
	if rest, ok := strings.CutPrefix(r.Path, "library/"); ok && !strings.Contains(rest, "/") {
		return rest
	}
	return r.Path
}
