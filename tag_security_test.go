//go:build linux

package hull

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/hullbox/hull/internal/imagearchive"
	"github.com/hullbox/hull/internal/store"
	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	digest "github.com/opencontainers/go-digest"
)

// importOne imports a one-file image tagged ref.
func importOne(t *testing.T, rt *Runtime, ref, body string) *Image {
	t.Helper()
	img, err := rt.Import(t.Context(), bytes.NewReader(testutil.TarBytes(t, []testutil.File{{Name: "who", Body: []byte(body)}})), ref)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// idNames are tag names that read as the ID of img: none may be created.
func idNames(img *Image) []string {
	id := digest.Digest(img.ID()).Encoded()
	return []string{
		"sha256:" + id, "docker.io/library/sha256:" + id, "library/sha256:" + id,
		id, id + ":latest", "docker.io/library/" + id + ":1",
		"sha256", "sha256:latest", "sha256:" + id[:12], "sha512:x", "sha384",
	}
}

// tagsOf returns the store's tags and what they point at.
func tagsOf(t *testing.T, rt *Runtime) map[string]string {
	t.Helper()
	ix, err := rt.store.ReadIndex()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for name, tag := range ix.Tags {
		out[name] = tag.Digest.String()
	}
	return out
}

// TestTagRefusesIDNames: Tag, Import and Commit refuse a name whose
// repository is a digest algorithm or 64 hex characters, as Docker does,
// so no tag can take over "sha256:<id>" or "<id>".
func TestTagRefusesIDNames(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	trusted := importOne(t, rt, "trusted:1", "trusted")
	importOne(t, rt, "evil:1", "evil")
	c, err := rt.Create(ctx, "busybox:test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Remove(t.Context(), WithForce()) })
	tags := tagsOf(t, rt)
	imgs, _ := rt.Images(ctx)
	for _, name := range idNames(trusted) {
		if err := rt.Tag(ctx, "evil:1", name); !errors.Is(err, ErrInvalidReference) {
			t.Errorf("tag %q: %v, want ErrInvalidReference", name, err)
		}
		_, err := rt.Import(ctx, bytes.NewReader(testutil.TarBytes(t, []testutil.File{{Name: "x"}})), name)
		if !errors.Is(err, ErrInvalidReference) {
			t.Errorf("import as %q: %v, want ErrInvalidReference", name, err)
		}
		if _, err := c.Commit(ctx, name); !errors.Is(err, ErrInvalidReference) {
			t.Errorf("commit as %q: %v, want ErrInvalidReference", name, err)
		}
	}
	if after := tagsOf(t, rt); !maps.Equal(tags, after) {
		t.Errorf("tags changed:\nbefore %v\nafter  %v", tags, after)
	}
	if after, _ := rt.Images(ctx); len(after) != len(imgs) {
		t.Errorf("%d images after the refused imports and commits, want %d", len(after), len(imgs))
	}
	for _, ref := range []string{trusted.ID(), digest.Digest(trusted.ID()).Encoded(), digest.Digest(trusted.ID()).Encoded()[:12], "sha256:" + digest.Digest(trusted.ID()).Encoded()[:12]} {
		if got, err := rt.Image(ctx, ref); err != nil || got.ID() != trusted.ID() {
			t.Errorf("image %q: %v, %v; want the trusted image", ref, got, err)
		}
	}
}

// TestLoadRefusesIDTags: an archive naming an image "sha256:<id of
// another image>", in manifest.json's RepoTags or index.json's
// annotations, is refused and leaves the store as it was.
func TestLoadRefusesIDTags(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	trusted := importOne(t, rt, "trusted:1", "trusted")
	src := openTest(t)
	importOne(t, src, "evil:1", "evil")
	entries := readEntries(t, saveArchive(t, src, "evil:1"))
	id := digest.Digest(trusted.ID()).Encoded()
	withIndex := func(annotations map[string]string) []byte {
		var idx ocispec.Index
		if err := json.Unmarshal(entryNamed(entries, imagearchive.IndexFile).body, &idx); err != nil {
			t.Fatal(err)
		}
		idx.Manifests[0].Annotations = annotations
		data, _ := json.Marshal(idx)
		return writeEntries(t, replaceBody(withoutEntries(entries, imagearchive.ManifestFile), imagearchive.IndexFile, data))
	}
	cases := map[string][]byte{
		"docker RepoTags": writeEntries(t, dockerOnly(t, entries, func(it *imagearchive.ManifestItem) []tarEntry {
			it.RepoTags = []string{"sha256:" + id}
			return nil
		})),
		"docker RepoTags, hex name": writeEntries(t, dockerOnly(t, entries, func(it *imagearchive.ManifestItem) []tarEntry {
			it.RepoTags = []string{"evil:1", id + ":latest"}
			return nil
		})),
		"OCI ref.name":   withIndex(map[string]string{ocispec.AnnotationRefName: "sha256:" + id}),
		"OCI image name": withIndex(map[string]string{imagearchive.AnnotationImageName: "docker.io/library/sha256:" + id}),
	}
	for name, archive := range cases {
		t.Run(name, func(t *testing.T) {
			before := rootListing(t, rt.Root())
			tags := tagsOf(t, rt)
			_, err := rt.Load(t.Context(), bytes.NewReader(archive))
			t.Log(err)
			if !errors.Is(err, ErrInvalidReference) {
				t.Errorf("load: %v, want ErrInvalidReference", err)
			}
			if after := rootListing(t, rt.Root()); !slices.Equal(before, after) {
				t.Errorf("root changed:\nbefore %v\nafter  %v", before, after)
			}
			if after := tagsOf(t, rt); !maps.Equal(tags, after) {
				t.Errorf("tags changed:\nbefore %v\nafter  %v", tags, after)
			}
			if got, err := rt.Image(t.Context(), "sha256:"+id); err != nil || got.ID() != trusted.ID() {
				t.Errorf("sha256:<id> -> %v, %v; want the trusted image", got, err)
			}
		})
	}
	if imgs, err := rt.Images(t.Context()); err != nil || len(imgs) != 1 {
		t.Errorf("images after the refused loads: %d, %v; want 1", len(imgs), err)
	}
}

// TestLookupByIDNeverTag: "sha256:<id>" and "sha256:<prefix>" always mean
// an image ID, even where a store written before tags were checked holds
// a tag of that name; a bare hex string that is both a tag and another
// image's ID prefix is refused as ambiguous, not read as the tag.
func TestLookupByIDNeverTag(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	ctx := t.Context()
	trusted := importOne(t, rt, "trusted:1", "trusted")
	evil := importOne(t, rt, "evil:1", "evil")
	id := digest.Digest(trusted.ID()).Encoded()
	// What an older hull let `tag evil sha256:<id>` write.
	err := rt.store.UpdateIndex(ctx, func(ix *store.Index) error {
		ix.SetTag("docker.io/library/sha256:"+id, evil.Digest(), evil.rec.Added)
		ix.SetTag("docker.io/library/sha256:"+id[:12], evil.Digest(), evil.rec.Added)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"sha256:" + id, "sha256:" + id[:12], id} {
		if got, err := rt.Image(ctx, ref); err != nil || got.ID() != trusted.ID() {
			t.Errorf("image %q: %v, %v; want the trusted image", ref, got, err)
		}
	}
	// A short hex name is a valid tag (Docker allows it too)...
	if err := rt.Tag(ctx, "evil:1", id[:12]); err != nil {
		t.Fatal(err)
	}
	// ...but where it is also an ID prefix, the bare form is ambiguous.
	if got, err := rt.Image(ctx, id[:12]); !errors.Is(err, ErrConflict) {
		t.Errorf("image %q (a tag and an ID prefix): %v, %v; want ErrConflict", id[:12], got, err)
	}
	if got, err := rt.Image(ctx, id[:12]+":latest"); err != nil || got.ID() != evil.ID() {
		t.Errorf("image %q: %v, %v; want the tagged image", id[:12]+":latest", got, err)
	}
	if got, err := rt.Image(ctx, "sha256:"+id[:12]); err != nil || got.ID() != trusted.ID() {
		t.Errorf("image sha256:%s: %v, %v; want the trusted image", id[:12], got, err)
	}
	// A hex tag that is no image's ID prefix is found as a tag.
	other := "0123456789ab"
	if digest.Digest(trusted.ID()).Encoded()[:12] == other || digest.Digest(evil.ID()).Encoded()[:12] == other {
		t.Skip("unlucky IDs")
	}
	if err := rt.Tag(ctx, "evil:1", other); err != nil {
		t.Fatal(err)
	}
	if got, err := rt.Image(ctx, other); err != nil || got.ID() != evil.ID() {
		t.Errorf("image %q: %v, %v; want the tagged image", other, got, err)
	}
}
