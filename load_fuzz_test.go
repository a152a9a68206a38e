package hull

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hullbox/hull/internal/imagearchive"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Seeds shared by the load fuzzers.
const (
	fuzzHex  = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	fuzzHex2 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
)

// FuzzDockerManifest: parseDockerManifest never panics; it refuses with
// ErrInvalidContent and a bounded message naming manifest.json; what it
// accepts holds clean paths inside the archive and tags that are tags.
func FuzzDockerManifest(f *testing.F) {
	for _, s := range []string{
		`[{"Config":"blobs/sha256/` + fuzzHex + `","RepoTags":["app:1","docker.io/library/app:1","q.io/x/y:2"],"Layers":["blobs/sha256/` + fuzzHex2 + `"]}]`,
		`[{"Config":"` + fuzzHex + `.json","RepoTags":null,"Layers":["` + fuzzHex2 + `/layer.tar","a/layer.tar"]},{"Config":"c.json","Layers":[]}]`,
		`[{"config":"./x/../c.json","repotags":["a:1"],"layers":["l/./layer.tar"]}]`,
		`[{"Config":"c.json","RepoTags":["sha256:` + fuzzHex + `"]}]`,
		`[{"Config":"c.json","RepoTags":["` + fuzzHex + `:latest","sha256","evil@sha256:` + fuzzHex + `"]}]`,
		`[{"Config":"../c.json"}]`, `[{"Config":"/etc/passwd"}]`, `[{"Config":"c","Layers":["a/../../b"]}]`,
		`[{"Config":"c","Layers":["a\u0000b"]}]`, `[{"Config":""}]`, `[{}]`, `[]`, `{}`, `null`, `[null]`,
		`[{"Config":1}]`, `[{"Config":"c","RepoTags":"a:1"}]`, `[{"Config":"c","RepoTags":["Bad Tag!"," a:1",""]}]`,
		`[{"Config":"c","RepoTags":["a:1","a:1","docker.io/library/a:1"]}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		imgs, err := parseDockerManifest(data)
		if err != nil {
			checkLoadError(t, err, imagearchive.ManifestFile)
			return
		}
		if len(imgs) == 0 || len(imgs) > imagearchive.MaxImages {
			t.Fatalf("accepted %d images", len(imgs))
		}
		for _, img := range imgs {
			for _, p := range append([]string{img.Config}, img.Layers...) {
				checkArchivePath(t, p)
			}
			for i, tag := range img.Tags {
				checkLoadTag(t, tag)
				if slices.Contains(img.Tags[:i], tag) {
					t.Fatalf("tag %q listed twice", tag)
				}
			}
		}
	})
}

// FuzzOCIIndex: parseOCIIndex never panics; it refuses with
// ErrInvalidContent (ErrUnsupported for a digest algorithm hull does not
// store) and a bounded message naming index.json; what it accepts has
// valid sha256 digests, sizes that can be right and tags that are tags.
func FuzzOCIIndex(f *testing.F) {
	const m = `"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + fuzzHex + `","size":401`
	for _, s := range []string{
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{` + m +
			`,"annotations":{"io.containerd.image.name":"docker.io/library/app:1","org.opencontainers.image.ref.name":"1"}}]}`,
		`{"schemaVersion":2,"manifests":[{` + m + `,"annotations":{"org.opencontainers.image.ref.name":"q.io/app:2"}},{` + m + `}]}`,
		`{"manifests":[{` + m + `,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}`,
		`{"manifests":[{` + m + `,"annotations":{"org.opencontainers.image.ref.name":"sha256:` + fuzzHex2 + `"}}]}`,
		`{"manifests":[{` + m + `,"annotations":{"io.containerd.image.name":"docker.io/library/sha256:` + fuzzHex2 + `"}}]}`,
		`{"manifests":[{` + m + `,"annotations":{"io.containerd.image.name":"app@sha256:` + fuzzHex2 + `"}}]}`,
		`{"manifests":[{` + m + `,"annotations":{"io.containerd.image.name":"Bad Name"}}]}`,
		`{"manifests":[{` + m + `,"annotations":{"org.opencontainers.image.ref.name":"not a/ref:"}}]}`,
		`{"manifests":[{"digest":"sha512:` + fuzzHex + fuzzHex + `","size":1}]}`,
		`{"manifests":[{"digest":"sha256:short","size":1}]}`, `{"manifests":[{"digest":"","size":1}]}`,
		`{"manifests":[{"digest":"sha256:` + fuzzHex + `","size":-1}]}`,
		`{"manifests":[]}`, `{}`, `[]`, `null`, `{"manifests":[null]}`, `{"manifests":{"a":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseOCIIndex(data)
		if err != nil {
			checkLoadError(t, err, imagearchive.IndexFile)
			return
		}
		if len(entries) == 0 || len(entries) > imagearchive.MaxImages {
			t.Fatalf("accepted %d entries", len(entries))
		}
		for _, e := range entries {
			if e.desc.Digest.Validate() != nil || e.desc.Digest.Algorithm() != digest.SHA256 || e.desc.Size < 0 {
				t.Fatalf("accepted descriptor %+v", e.desc)
			}
			if e.tag != "" {
				checkLoadTag(t, e.tag)
			}
		}
	})
}

// checkLoadError checks a refusal of a load's metadata file.
func checkLoadError(t *testing.T, err error, file string) {
	t.Helper()
	msg := err.Error()
	if !errors.Is(err, ErrInvalidContent) && !errors.Is(err, ErrUnsupported) {
		t.Fatalf("error %q: neither ErrInvalidContent nor ErrUnsupported", msg)
	}
	if !strings.Contains(msg, file) {
		t.Fatalf("error %q does not name %s", msg, file)
	}
	if len(msg) > 3072 { // bounded: never the whole of a long input
		t.Fatalf("a %d-byte error: %.128q...", len(msg), msg)
	}
}

// checkArchivePath checks a path accepted from a metadata file: clean,
// relative, inside the archive.
func checkArchivePath(t *testing.T, p string) {
	t.Helper()
	if clean, err := imagearchive.CleanName(p); err != nil || clean != p || p == ".." ||
		strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) {
		t.Fatalf("accepted path %q", p)
	}
}

// checkLoadTag checks a tag a load would set: normalised "domain/path:tag",
// no digest, no name that reads as an image ID.
func checkLoadTag(t *testing.T, tag string) {
	t.Helper()
	r, err := ParseReference(tag)
	if err != nil || r.tagged() != tag || r.Digest != "" {
		t.Fatalf("accepted tag %q: parses to %#v, %v", tag, r, err)
	}
	if name := shortName(r); isIDName(name) || isHex64(name) {
		t.Fatalf("accepted tag %q, whose short name reads as an image ID", tag)
	}
}

// parseDockerManifest reads a manifest.json as Load does: hull's tags,
// hull's sentinels.
func parseDockerManifest(data []byte) ([]imagearchive.DockerImage, error) {
	imgs, err := imagearchive.ParseDockerManifest(data, repoTag)
	return imgs, archiveErr(err)
}

// indexEntry is one image an index.json lists, with its tag.
type indexEntry struct {
	desc ocispec.Descriptor
	tag  string
}

// parseOCIIndex reads an index.json and the tag of each entry as Load
// does: hull's tags, hull's sentinels.
func parseOCIIndex(data []byte) ([]indexEntry, error) {
	descs, err := imagearchive.ParseIndex(data)
	if err != nil {
		return nil, archiveErr(err)
	}
	out := make([]indexEntry, 0, len(descs))
	for _, d := range descs {
		tag, err := entryTag(d)
		if err != nil {
			return nil, err
		}
		out = append(out, indexEntry{desc: d, tag: tag})
	}
	return out, nil
}
