package hull

import (
	"errors"
	"strings"
	"testing"
)

func TestParseReference(t *testing.T) {
	t.Parallel()
	const dg = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct {
		in, want, familiar string
	}{
		{"redis", "docker.io/library/redis:latest", "redis:latest"},
		{"redis:7", "docker.io/library/redis:7", "redis:7"},
		{"library/redis:7", "docker.io/library/redis:7", "redis:7"},
		{"docker.io/library/redis:7", "docker.io/library/redis:7", "redis:7"},
		{"bitnami/redis", "docker.io/bitnami/redis:latest", "bitnami/redis:latest"},
		{"localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b:t"},
		{"localhost/x", "localhost/x:latest", "localhost/x:latest"},
		{"127.0.0.1:5000/a", "127.0.0.1:5000/a:latest", "127.0.0.1:5000/a:latest"},
		{"ghcr.io/org/img:v1.2", "ghcr.io/org/img:v1.2", "ghcr.io/org/img:v1.2"},
		{"redis@" + dg, "docker.io/library/redis@" + dg, "redis@" + dg},
		{"q.io/a:1@" + dg, "q.io/a:1@" + dg, "q.io/a:1@" + dg},
		// Only a short name that reads as an image ID is refused.
		{"user/sha256:1", "docker.io/user/sha256:1", "user/sha256:1"},
		{"localhost:5000/sha256", "localhost:5000/sha256:latest", "localhost:5000/sha256:latest"},
		{"e3b0c44298fc", "docker.io/library/e3b0c44298fc:latest", "e3b0c44298fc:latest"},
		// A Hub name whose short form would name another registry's.
		{"docker.io/ghcr.io/org/app:1", "docker.io/ghcr.io/org/app:1", "docker.io/ghcr.io/org/app:1"},
		{"docker.io/localhost/x", "docker.io/localhost/x:latest", "docker.io/localhost/x:latest"},
		{"docker.io/0.0/00", "docker.io/0.0/00:latest", "docker.io/0.0/00:latest"},
	}
	for _, tc := range tests {
		r, err := ParseReference(tc.in)
		if err != nil {
			t.Errorf("ParseReference(%q): %v", tc.in, err)
			continue
		}
		if r.String() != tc.want {
			t.Errorf("ParseReference(%q) = %q, want %q", tc.in, r.String(), tc.want)
		}
		if r.Familiar() != tc.familiar {
			t.Errorf("ParseReference(%q).Familiar() = %q, want %q", tc.in, r.Familiar(), tc.familiar)
		}
	}
}

func TestParseReferenceInvalid(t *testing.T) {
	t.Parallel()
	const hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	for _, in := range []string{
		"", " redis", "Redis", "redis:", "redis:t@g", "a//b", "redis@sha256:short",
		"-leading", "x:" + strings.Repeat("t", 200), "ho st/a", "upper/Case",
		"a_b.com/x", "0_0.0/00:1", // a host with "_", which distribution/reference reads as no host at all
		// Names that read as an image ID (Docker refuses them too).
		"sha256:" + hex, hex, hex + ":latest", "library/" + hex, "docker.io/library/sha256:" + hex,
		"sha256", "sha256:latest", "sha512:x", "sha384", "library/sha256@sha256:" + hex,
	} {
		_, err := ParseReference(in)
		if !errors.Is(err, ErrInvalidReference) {
			t.Errorf("ParseReference(%q) = %v, want ErrInvalidReference", in, err)
			continue
		}
		if in != "" && !strings.Contains(err.Error(), in) {
			t.Errorf("error %q does not name %q", err, in)
		}
	}
}
