//go:build linux

package hull

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/hullbox/hull/internal/imagearchive"
	"github.com/hullbox/hull/internal/manifest"
	"github.com/hullbox/hull/internal/testutil"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// smallImage is a quick two-layer image.
func smallImage(seed string) testutil.Image {
	return testutil.Image{Layers: []testutil.Layer{
		{Files: []testutil.File{{Name: "etc/", Type: tar.TypeDir}, {Name: "etc/seed", Body: []byte(seed)}}, Compression: testutil.Gzip},
		{Files: []testutil.File{{Name: "app", Body: []byte("app " + seed), Mode: 0o755}}},
	}}
}

// savedSmall pushes, pulls and saves smallImage(seed), returning the image
// and the archive's entries.
func savedSmall(t *testing.T, reg *testutil.Registry, seed string) (*Runtime, *Image, []tarEntry) {
	t.Helper()
	rt := openTest(t)
	img := pullAll(t, rt, reg.Push(t, "test/small:"+seed, smallImage(seed)))[0]
	return rt, img, readEntries(t, saveArchive(t, rt, img.RepoTags()[0]))
}

func regEntry(name string, body []byte) tarEntry {
	return tarEntry{hdr: &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, body: body}
}

func linkEntry(name, target string, typ byte) tarEntry {
	return tarEntry{hdr: &tar.Header{Name: name, Typeflag: typ, Linkname: target, Mode: 0o777}}
}

// replaceBody returns entries with the body of name replaced.
func replaceBody(entries []tarEntry, name string, body []byte) []tarEntry {
	out := slices.Clone(entries)
	for i, e := range out {
		if e.hdr.Name == name {
			out[i] = tarEntry{hdr: e.hdr, body: body}
		}
	}
	return out
}

// dockerOnly returns the docker save layout of entries, with the
// manifest.json item and files changed by edit.
func dockerOnly(t *testing.T, entries []tarEntry, edit func(*imagearchive.ManifestItem) []tarEntry) []tarEntry {
	t.Helper()
	var items []imagearchive.ManifestItem
	if err := json.Unmarshal(entryNamed(entries, imagearchive.ManifestFile).body, &items); err != nil {
		t.Fatal(err)
	}
	extra := edit(&items[0])
	data, _ := json.Marshal(items)
	out := replaceBody(withoutEntries(entries, imagearchive.IndexFile, imagearchive.LayoutFile), imagearchive.ManifestFile, data)
	return append(out, extra...)
}

// withConfig returns a docker-layout edit that replaces the config by
// change(config), stored under a new name.
func withConfig(t *testing.T, entries []tarEntry, change func(*ocispec.Image)) func(*imagearchive.ManifestItem) []tarEntry {
	return func(it *imagearchive.ManifestItem) []tarEntry {
		var c ocispec.Image
		if err := json.Unmarshal(entryNamed(entries, it.Config).body, &c); err != nil {
			t.Fatal(err)
		}
		change(&c)
		data, _ := json.Marshal(c)
		it.Config = "evil-config.json"
		return []tarEntry{regEntry(it.Config, data)}
	}
}

func TestLoadRefusesHostileArchives(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	_, img, good := savedSmall(t, reg, "hostile")
	layers := img.Layers()
	top := imagearchive.BlobPath(layers[1].Digest)
	cfg := imagearchive.BlobPath(digest.Digest(img.ID()))
	hostileLayer := rawTar(t, &tar.Header{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5})
	notTar := bytes.Repeat([]byte("not a tar archive "), 300)
	cases := map[string]func() []byte{
		"dotdot entry":   func() []byte { return writeEntries(t, append(good, regEntry("../escape", []byte("x")))) },
		"nested dotdot":  func() []byte { return writeEntries(t, append(good, regEntry("blobs/../../escape", []byte("x")))) },
		"absolute entry": func() []byte { return writeEntries(t, append(good, regEntry("/tmp/hull-escape", []byte("x")))) },
		"symlink out": func() []byte {
			return writeEntries(t, append(withoutEntries(good, top), linkEntry(top, "../../../etc/passwd", tar.TypeSymlink)))
		},
		"absolute symlink": func() []byte {
			return writeEntries(t, append(withoutEntries(good, top), linkEntry(top, "/etc/passwd", tar.TypeSymlink)))
		},
		"hardlink out": func() []byte { return writeEntries(t, append(good, linkEntry("evil", "../outside", tar.TypeLink))) },
		"link to another blob": func() []byte {
			return writeEntries(t, append(withoutEntries(good, top), linkEntry(top, digest.Digest(img.ID()).Encoded(), tar.TypeSymlink)))
		},
		"device entry": func() []byte {
			return writeEntries(t, append(good, tarEntry{hdr: &tar.Header{Name: "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}))
		},
		"wrong blob digest": func() []byte {
			body := slices.Clone(entryNamed(good, top).body)
			body[len(body)-1] ^= 0xff
			return writeEntries(t, replaceBody(good, top, body))
		},
		"missing layer blob":  func() []byte { return writeEntries(t, withoutEntries(good, top)) },
		"missing config blob": func() []byte { return writeEntries(t, withoutEntries(good, cfg)) },
		"garbage index.json":  func() []byte { return writeEntries(t, replaceBody(good, imagearchive.IndexFile, []byte("{not json"))) },
		"oversized index.json": func() []byte {
			return writeEntries(t, replaceBody(good, imagearchive.IndexFile, append(bytes.Repeat([]byte(" "), maxManifestSize), "{}"...)))
		},
		"index entry size wrong": func() []byte {
			idx := strings.Replace(string(entryNamed(good, imagearchive.IndexFile).body), `"size":`, `"size":1`, 1)
			return writeEntries(t, replaceBody(good, imagearchive.IndexFile, []byte(idx)))
		},
		"index names an absent manifest": func() []byte {
			idx := strings.ReplaceAll(string(entryNamed(good, imagearchive.IndexFile).body), img.Digest().Encoded(), digest.FromString("absent").Encoded())
			return writeEntries(t, replaceBody(good, imagearchive.IndexFile, []byte(idx)))
		},
		"garbage manifest.json": func() []byte {
			return writeEntries(t, replaceBody(withoutEntries(good, imagearchive.IndexFile), imagearchive.ManifestFile, []byte("[{")))
		},
		"docker layout: absent layer file": func() []byte {
			return writeEntries(t, dockerOnly(t, good, func(it *imagearchive.ManifestItem) []tarEntry { it.Layers[1] = "nope/layer.tar"; return nil }))
		},
		"docker layout: layer path escapes": func() []byte {
			return writeEntries(t, dockerOnly(t, good, func(it *imagearchive.ManifestItem) []tarEntry { it.Layers[1] = "../" + top; return nil }))
		},
		"docker layout: bad RepoTags": func() []byte {
			return writeEntries(t, dockerOnly(t, good, func(it *imagearchive.ManifestItem) []tarEntry { it.RepoTags = []string{"Bad Tag!"}; return nil }))
		},
		"docker layout: diff ID mismatch": func() []byte {
			return writeEntries(t, dockerOnly(t, good, withConfig(t, good, func(c *ocispec.Image) { c.RootFS.DiffIDs[1] = digest.FromString("other") })))
		},
		"docker layout: layer count mismatch": func() []byte {
			return writeEntries(t, dockerOnly(t, good, withConfig(t, good, func(c *ocispec.Image) { c.RootFS.DiffIDs = c.RootFS.DiffIDs[:1] })))
		},
		"docker layout: hostile layer": func() []byte {
			return writeEntries(t, dockerOnly(t, good, func(it *imagearchive.ManifestItem) []tarEntry {
				extra := withConfig(t, good, func(c *ocispec.Image) { c.RootFS.DiffIDs[1] = digest.FromBytes(hostileLayer) })(it)
				it.Layers[1] = "evil/layer.tar"
				return append(extra, regEntry(it.Layers[1], hostileLayer))
			}))
		},
		"docker layout: second image bad": func() []byte {
			// The first image is unpacked before the second fails: its
			// snapshots must go too.
			return writeEntries(t, dockerOnly(t, good, func(it *imagearchive.ManifestItem) []tarEntry {
				bad := *it
				bad.RepoTags = []string{"bad:1"}
				extra := withConfig(t, good, func(c *ocispec.Image) { c.RootFS.DiffIDs[1] = digest.FromString("other") })(&bad)
				items, _ := json.Marshal([]imagearchive.ManifestItem{*it, bad})
				return append(extra, regEntry(imagearchive.ManifestFile, items))
			}))
		},
		"truncated in a blob": func() []byte { d := writeEntries(t, good); return d[:len(d)/2/512*512+100] },
		"truncated between entries": func() []byte {
			d := writeEntries(t, good)
			return d[:len(d)-1024-512*((len(entryNamed(good, top).body)+511)/512)-512] // the last blob (top layer) cut off
		},
		"not a tar":     func() []byte { return notTar },
		"empty archive": func() []byte { return writeEntries(t, nil) },
	}
	rt := openTest(t)
	// Something in the store first, so that "unchanged" means something.
	if _, err := rt.Load(t.Context(), bytes.NewReader(saveArchive(t, openPulled(t, reg, "other"), reg.Host+"/test/small:other"))); err != nil {
		t.Fatal(err)
	}
	for name, archive := range cases {
		t.Run(name, func(t *testing.T) {
			before := rootListing(t, rt.Root())
			_, err := rt.Load(t.Context(), bytes.NewReader(archive()))
			t.Log(err)
			if !errors.Is(err, ErrInvalidContent) {
				t.Errorf("load: %v, want ErrInvalidContent", err)
			}
			if after := rootListing(t, rt.Root()); !slices.Equal(before, after) {
				t.Errorf("root changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
	if imgs, err := rt.Images(t.Context()); err != nil || len(imgs) != 1 {
		t.Errorf("images after the hostile loads: %d, %v; want the one loaded first", len(imgs), err)
	}
}

// openPulled returns a root holding smallImage(seed), pulled.
func openPulled(t *testing.T, reg *testutil.Registry, seed string) *Runtime {
	t.Helper()
	rt, _, _ := savedSmall(t, reg, seed)
	return rt
}

// TestLoadLegacyDockerArchive: the layout of docker save before Docker 25
// (and of skopeo): uncompressed <id>/layer.tar files, links between them,
// names with "./", the whole archive gzip compressed.
func TestLoadLegacyDockerArchive(t *testing.T) {
	t.Parallel()
	l1 := testutil.TarBytes(t, []testutil.File{{Name: "etc/", Type: tar.TypeDir}, {Name: "etc/one", Body: []byte("1")}})
	l2 := testutil.TarBytes(t, []testutil.File{{Name: "etc/two", Body: []byte("2")}, {Name: "etc/.wh.one"}})
	d1, d2 := digest.FromBytes(l1), digest.FromBytes(l2)
	config, _ := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config:   ocispec.ImageConfig{Cmd: []string{"sh"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{d1, d2, d2, d1}},
	})
	configD := digest.FromBytes(config)
	manifestJSON, _ := json.Marshal([]imagearchive.ManifestItem{{
		Config:   "./" + configD.Encoded() + ".json",
		RepoTags: []string{"legacy:1", "example.com/legacy/app:2"},
		Layers:   []string{"aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar", "ddd/layer.tar"},
	}})
	entries := []tarEntry{
		{hdr: &tar.Header{Name: "aaa/", Typeflag: tar.TypeDir, Mode: 0o755}},
		regEntry("./aaa/layer.tar", l1),
		regEntry("aaa/json", []byte(`{"id":"aaa"}`)),
		regEntry("aaa/VERSION", []byte("1.0")),
		regEntry("bbb/layer.tar", l2),
		linkEntry("ccc", "bbb", tar.TypeSymlink),                  // a linked directory
		linkEntry("ddd/layer.tar", "aaa/layer.tar", tar.TypeLink), // a hardlink
		regEntry(configD.Encoded()+".json", config),
		regEntry("repositories", []byte(`{"legacy":{"1":"ddd"}}`)),
		regEntry("./manifest.json", manifestJSON),
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(writeEntries(t, entries))
	zw.Close()

	rt := openTest(t)
	imgs, err := rt.Load(t.Context(), &gz)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 {
		t.Fatalf("loaded %d images", len(imgs))
	}
	img := imgs[0]
	if img.ID() != configD.String() || !slices.Equal(img.RepoTags(), []string{"legacy:1", "example.com/legacy/app:2"}) {
		t.Errorf("ID %s tags %v", img.ID(), img.RepoTags())
	}
	if inspect(t, img).Descriptor.MediaType != manifest.MediaTypeDockerManifest {
		t.Errorf("manifest type %s", inspect(t, img).Descriptor.MediaType)
	}
	for i, l := range img.Layers() {
		if want := []digest.Digest{d1, d2, d2, d1}[i]; l.Digest != want || l.DiffID != want || l.MediaType != manifest.MediaTypeDockerLayerTar {
			t.Errorf("layer %d: %+v", i, l)
		}
	}
	// Only the image's blobs are left: the legacy json, VERSION and
	// repositories files were staged and dropped.
	blobs, _ := rt.store.Blobs()
	want := []digest.Digest{img.Digest(), configD, d1, d2}
	slices.Sort(blobs)
	slices.Sort(want)
	if !slices.Equal(blobs, want) {
		t.Errorf("stored blobs %v, want %v", blobs, want)
	}
	if _, err := rt.Image(t.Context(), "legacy:1"); err != nil {
		t.Error(err)
	}
}

// TestLoadNestedIndex: an index.json entry that is itself an index (as
// Docker's containerd store saves) resolves to the host's platform, or the
// one WithPlatform names.
func TestLoadNestedIndex(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	_, img, entries := savedSmall(t, reg, "nested")
	host := manifest.HostPlatform()
	nested, _ := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{
			{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("s390x image, not in the archive"), Size: 100, Platform: &ocispec.Platform{OS: "linux", Architecture: "s390x"}},
			{MediaType: ocispec.MediaTypeImageManifest, Digest: img.Digest(), Size: inspect(t, img).Descriptor.Size, Platform: &host},
		},
	})
	nestedD := digest.FromBytes(nested)
	top, _ := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		Manifests: []ocispec.Descriptor{{
			MediaType: ocispec.MediaTypeImageIndex, Digest: nestedD, Size: int64(len(nested)),
			Annotations: map[string]string{imagearchive.AnnotationImageName: "example.com/multi:1", ocispec.AnnotationRefName: "1"},
		}},
	})
	archive := writeEntries(t, append(replaceBody(withoutEntries(entries, imagearchive.ManifestFile), imagearchive.IndexFile, top), regEntry(imagearchive.BlobPath(nestedD), nested)))

	rt := openTest(t)
	imgs, err := rt.Load(t.Context(), bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].Digest() != img.Digest() || !slices.Equal(imgs[0].RepoTags(), []string{"example.com/multi:1"}) || imgs[0].rec.Index != nestedD {
		t.Fatalf("loaded %v", imgs)
	}
	before := rootListing(t, rt.Root())
	if _, err := rt.Load(t.Context(), bytes.NewReader(archive), WithPlatform("linux/s390x")); !errors.Is(err, ErrInvalidContent) {
		t.Errorf("load of a platform whose blobs are absent: %v, want ErrInvalidContent", err)
	}
	if _, err := rt.Load(t.Context(), bytes.NewReader(archive), WithPlatform("windows/arm")); !errors.Is(err, ErrNotFound) {
		t.Errorf("load of an absent platform: %v, want ErrNotFound", err)
	}
	if after := rootListing(t, rt.Root()); !slices.Equal(before, after) {
		t.Errorf("failed loads changed the root:\nbefore %v\nafter  %v", before, after)
	}
	if _, err := rt.Load(t.Context(), bytes.NewReader(archive), WithPlatform("bad")); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad platform: %v", err)
	}
}

// TestLoadMovesTags: a loaded tag that pointed elsewhere moves, and the
// move is in the tag's history.
func TestLoadMovesTags(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	_, a, _ := savedSmall(t, reg, "a")
	_, _, entries := savedSmall(t, reg, "b")
	rt := openTest(t)
	if _, err := rt.Load(t.Context(), bytes.NewReader(saveArchive(t, a.rt, a.RepoTags()[0]))); err != nil {
		t.Fatal(err)
	}
	if err := rt.Tag(t.Context(), a.RepoTags()[0], "shared:tag"); err != nil {
		t.Fatal(err)
	}
	archive := writeEntries(t, dockerOnly(t, entries, func(it *imagearchive.ManifestItem) []tarEntry { it.RepoTags = []string{"shared:tag"}; return nil }))
	imgs, err := rt.Load(t.Context(), bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	got, err := rt.Image(t.Context(), "shared:tag")
	if err != nil || got.ID() != imgs[0].ID() {
		t.Fatalf("shared:tag -> %v, %v; want the loaded image", got, err)
	}
	ix, _ := rt.store.ReadIndex()
	if h := ix.Tags["docker.io/library/shared:tag"].History; len(h) != 2 || h[0].Digest != a.Digest() {
		t.Errorf("tag history %+v", h)
	}
	if again, err := rt.Image(t.Context(), a.ID()); err != nil || !slices.Equal(again.RepoTags(), a.RepoTags()) {
		t.Errorf("the first image: %v, %v", again, err)
	}
}

// TestConcurrentLoads loads one archive into one root from several
// Runtimes at once: all succeed, and what the archive held beyond the
// image is garbage that Prune frees if the loads could not.
func TestConcurrentLoads(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	_, img, entries := savedSmall(t, reg, "concurrent")
	archive := writeEntries(t, append(entries, regEntry("extra/json", []byte(`{"unused":true}`))))
	root := t.TempDir()
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			rt, err := Open(t.Context(), WithRoot(root))
			if err != nil {
				errs <- err
				return
			}
			defer rt.Close()
			_, err = rt.Load(t.Context(), bytes.NewReader(archive))
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	rt := openTest(t, WithRoot(root))
	got, err := rt.Image(t.Context(), img.RepoTags()[0])
	if err != nil || got.Digest() != img.Digest() {
		t.Fatalf("image after concurrent loads: %v, %v", got, err)
	}
	if _, err := rt.Prune(t.Context()); err != nil {
		t.Fatal(err)
	}
	blobs, _ := rt.store.Blobs()
	want := []digest.Digest{img.Digest(), digest.Digest(img.ID()), img.Layers()[0].Digest, img.Layers()[1].Digest}
	slices.Sort(blobs)
	slices.Sort(want)
	if !slices.Equal(blobs, want) {
		t.Errorf("blobs after prune %v, want %v", blobs, want)
	}
}

// cancelAfter cancels a context once n bytes have been read through it.
type cancelAfter struct {
	r      *bytes.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p[:min(len(p), 512)])
	if c.n -= n; c.n <= 0 {
		c.cancel()
	}
	return n, err
}

// TestLoadCancelled: a load whose context ends half-way stores nothing.
func TestLoadCancelled(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	_, _, entries := savedSmall(t, reg, "cancel")
	data := writeEntries(t, entries)
	rt := openTest(t)
	before := rootListing(t, rt.Root())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err := rt.Load(ctx, &cancelAfter{r: bytes.NewReader(data), n: len(data) * 3 / 4, cancel: cancel})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled load: %v", err)
	}
	if after := rootListing(t, rt.Root()); !slices.Equal(before, after) {
		t.Errorf("root changed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestLoadRefusesBadMetadata: archives whose manifest.json, index.json or
// oci-layout is wrong in shape or content are refused with an error that
// says what is wrong, and the store, its tags and its images stay as they
// were. (TestLoadRefusesHostileArchives has the archives whose files are
// hostile, TestLoadRefusesIDTags the tags that read as image IDs.)
func TestLoadRefusesBadMetadata(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	_, _, good := savedSmall(t, reg, "badmeta")
	docker := func(manifest string) []byte {
		return writeEntries(t, replaceBody(withoutEntries(good, imagearchive.IndexFile, imagearchive.LayoutFile), imagearchive.ManifestFile, []byte(manifest)))
	}
	dockerEdit := func(edit func(*imagearchive.ManifestItem)) []byte {
		return writeEntries(t, dockerOnly(t, good, func(it *imagearchive.ManifestItem) []tarEntry { edit(it); return nil }))
	}
	oci := func(edit func(*ocispec.Index)) []byte {
		var idx ocispec.Index
		if err := json.Unmarshal(entryNamed(good, imagearchive.IndexFile).body, &idx); err != nil {
			t.Fatal(err)
		}
		edit(&idx)
		data, _ := json.Marshal(idx)
		return writeEntries(t, replaceBody(good, imagearchive.IndexFile, data))
	}
	const hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	cases := []struct {
		name    string
		archive []byte
		want    error
		says    string // the error must contain this
	}{
		{"manifest.json an object", docker(`{"Config":"c.json"}`), ErrInvalidContent, "manifest.json: json: cannot unmarshal object"},
		{"manifest.json empty list", docker(`[]`), ErrInvalidContent, "manifest.json lists no image"},
		{"manifest.json config absolute", dockerEdit(func(it *imagearchive.ManifestItem) { it.Config = "/etc/passwd" }), ErrInvalidContent,
			`manifest.json: image 0: config: invalid content: absolute path "/etc/passwd"`},
		{"manifest.json config escapes", dockerEdit(func(it *imagearchive.ManifestItem) { it.Config = "a/../../c.json" }), ErrInvalidContent,
			`path "a/../../c.json" escapes the archive`},
		{"RepoTags holds a digest", dockerEdit(func(it *imagearchive.ManifestItem) { it.RepoTags = []string{"app@sha256:" + hex} }), ErrInvalidContent,
			`"app@sha256:` + hex + `" is not a tag`},
		{"RepoTags holds 1 MiB", dockerEdit(func(it *imagearchive.ManifestItem) { it.RepoTags = []string{strings.Repeat("a", 1<<20)} }), ErrInvalidReference,
			"1048576 bytes, longer than any reference"},
		{"index.json lists nothing", oci(func(idx *ocispec.Index) { idx.Manifests = []ocispec.Descriptor{} }), ErrInvalidContent,
			"index.json lists no image"},
		{"index.json bad digest", oci(func(idx *ocispec.Index) { idx.Manifests[0].Digest = "sha256:e3b0" }), ErrInvalidContent,
			`index.json: entry 0: invalid content: digest "sha256:e3b0"`},
		{"index.json negative size", oci(func(idx *ocispec.Index) { idx.Manifests[0].Size = -1 }), ErrInvalidContent, "size -1"},
		{"index.json sha512 digest", oci(func(idx *ocispec.Index) { idx.Manifests[0].Digest = digest.SHA512.FromString("x") }), ErrUnsupported,
			"digest algorithm sha512"},
		{"oci-layout version", writeEntries(t, replaceBody(good, imagearchive.LayoutFile, []byte(`{"imageLayoutVersion":"2.0.0"}`))), ErrUnsupported,
			`OCI layout version "2.0.0"`},
	}
	rt := openTest(t)
	// An image and its tag first, so that "unchanged" means something.
	existing, err := rt.Load(t.Context(), bytes.NewReader(saveArchive(t, openPulled(t, reg, "kept"), reg.Host+"/test/small:kept")))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, tags := rootListing(t, rt.Root()), tagsOf(t, rt)
			_, err := rt.Load(t.Context(), bytes.NewReader(tc.archive))
			t.Log(err)
			if !errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), tc.says) {
				t.Errorf("load: %v; want %v saying %q", err, tc.want, tc.says)
			}
			if len(fmt.Sprint(err)) > 1024 {
				t.Errorf("a %d-byte error", len(err.Error()))
			}
			if after := rootListing(t, rt.Root()); !slices.Equal(before, after) {
				t.Errorf("root changed:\nbefore %v\nafter  %v", before, after)
			}
			if after := tagsOf(t, rt); !maps.Equal(tags, after) {
				t.Errorf("tags changed:\nbefore %v\nafter  %v", tags, after)
			}
		})
	}
	imgs, err := rt.Images(t.Context())
	if err != nil || len(imgs) != 1 || imgs[0].ID() != existing[0].ID() {
		t.Errorf("images after the refused loads: %v, %v; want only %s", imgs, err, existing[0].ID())
	}
	if got, err := rt.Image(t.Context(), reg.Host+"/test/small:kept"); err != nil || got.ID() != existing[0].ID() {
		t.Errorf("the existing image's tag: %v, %v", got, err)
	}
}
