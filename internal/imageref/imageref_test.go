package imageref

import (
	"strings"
	"testing"

	"github.com/distribution/reference"
)

const hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// cases cover each rule of the grammar from both sides: normalisation,
// hosts, ports, IPv6, path separators, tags, digests, lengths, case.
var cases = []string{
	"", "redis", "redis:7", "library/redis", "docker.io/redis", "docker.io/library/redis:7",
	"index.docker.io/redis", "index.docker.io/org/app:1", "Docker.io/redis", "INDEX.docker.io/x",
	"localhost/x", "localhost:5000/x:y", "localhost", "localhost:5000", "LocalHost/x",
	"ghcr.io/org/img:v1.2", "q.io/a/b/c/d:t", "a.b.c.d/e", "1.2.3.4:80/x", "host:0/x", "host:/x",
	"host:12a/x", "host:5000:6000/x", "-host.io/x", "host-.io/x", "ho-st.io/x", "h.-x.io/x",
	"h..io/x", ".io/x", "io./x", "xn--bcher-kva.example/a", "UPPER.io/x", "upper.IO/X",
	"[::1]/x", "[::1]:5000/x:y", "[fe80::1%eth0]/x", "[]/x", "[::1]x/x", "[::1]:/x", "[g::1]/x",
	"a_b.com/x", "a_b.com:5000/x", "a_b/c", "a__b", "a___b", "a.b", "a..b", "a._b", "a-b", "a--b",
	"a---b", "a-", "-a", "_a", "a_", "a.", ".a", "a/", "/a", "a//b", "a/b/", "a/-b", "a/b_", "A",
	"a/B", "a/b:C", "a/b:Tag_1.x-y", "a:", "a:.x", "a:-x", "a:_x", "a:x.", "a:b:c", "a:b/c",
	"a:1/b:c", "a/b:c/d", "a:" + strings.Repeat("t", 128), "a:" + strings.Repeat("t", 129),
	"a@sha256:" + hex, "a:t@sha256:" + hex, "q.io/a:1@sha256:" + hex, "a@sha256:" + strings.ToUpper(hex),
	"a@sha256:e3b0", "a@sha256:" + hex[:32], "a@sha512:" + hex + hex, "a@sha384:" + (hex + hex)[:96],
	"a@md5:" + hex[:32], "a@sha256+b64:" + hex, "a@x.y-z_w+v:" + hex, "a@1x:" + hex, "a@x..y:" + hex,
	"a@x-:" + hex, "a@:" + hex, "a@sha256:" + hex + "g", "a@sha256", "a@", "@sha256:" + hex,
	"a@b@c", "a@sha256:" + hex + "@x", "Name@sha256:" + hex, "x.com@sha256:" + hex + "/",
	"a@b/c", hex, hex + ":latest", "library/" + hex, strings.ToUpper(hex), hex[:63],
	"sha256:" + hex, "docker.io/library/sha256:" + hex, hex + ".io:5000/x",
	strings.Repeat("a", 255), strings.Repeat("a", 256), "docker.io/" + strings.Repeat("a", 248),
	"docker.io/" + strings.Repeat("a", 247), "x.io/" + strings.Repeat("a", 255), "x.io/" + strings.Repeat("a", 256),
	" redis", "redis ", "re dis", "ré", "a\x00b", "a/b\n",
}

// check compares ParseNormalized with distribution/reference on s.
func check(t *testing.T, s string) {
	t.Helper()
	got, err := ParseNormalized(s)
	want, wantErr := reference.ParseNormalizedNamed(s)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("ParseNormalized(%q): error %v; distribution/reference: %v", s, err, wantErr)
	}
	if err != nil {
		return
	}
	var tag, dg string
	if x, ok := want.(reference.Tagged); ok {
		tag = x.Tag()
	}
	if x, ok := want.(reference.Digested); ok {
		dg = string(x.Digest())
	}
	for _, c := range []struct{ what, got, want string }{
		{"Domain", got.Domain, reference.Domain(want)},
		{"Path", got.Path, reference.Path(want)},
		{"Tag", got.Tag, tag},
		{"Digest", string(got.Digest), dg},
		{"Name", got.Name(), want.Name()},
		{"String", got.String(), want.String()},
		{"FamiliarName", got.FamiliarName(), reference.FamiliarName(want)},
		{"FamiliarString", got.FamiliarString(), reference.FamiliarString(want)},
	} {
		if c.got != c.want {
			t.Fatalf("ParseNormalized(%q).%s = %q; distribution/reference: %q", s, c.what, c.got, c.want)
		}
	}
	if got.NameOnly() != reference.IsNameOnly(want) {
		t.Fatalf("ParseNormalized(%q).NameOnly() = %v; distribution/reference: %v", s, got.NameOnly(), !got.NameOnly())
	}
}

func TestParseNormalizedMatchesDistribution(t *testing.T) {
	t.Parallel()
	for _, s := range cases {
		check(t, s)
	}
}

// FuzzParseNormalized: on any input, ParseNormalized and
// distribution/reference agree on the parts and forms of what they
// accept and on the text of their errors.
func FuzzParseNormalized(f *testing.F) {
	for _, s := range cases {
		f.Add(s)
	}
	f.Fuzz(check)
}

func BenchmarkParseNormalized(b *testing.B) {
	for b.Loop() {
		if _, err := ParseNormalized("localhost:5000/org/app:v1@sha256:" + hex); err != nil {
			b.Fatal(err)
		}
	}
}
