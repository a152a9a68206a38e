//go:build linux

package hull

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hullbox/hull/internal/imagearchive"
	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	digest "github.com/opencontainers/go-digest"
)

// saveArchive saves refs from rt and returns the archive.
func saveArchive(t testing.TB, rt *Runtime, refs ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := rt.Save(t.Context(), &buf, refs...); err != nil {
		t.Fatalf("save %v: %v", refs, err)
	}
	return buf.Bytes()
}

// tarEntry is one entry of an archive, for tests that inspect or alter it.
type tarEntry struct {
	hdr  *tar.Header
	body []byte
}

func readEntries(t testing.TB, data []byte) []tarEntry {
	t.Helper()
	var out []tarEntry
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read archive: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read archive: %v", err)
		}
		out = append(out, tarEntry{hdr: hdr, body: body})
	}
}

// writeEntries makes an archive of entries, taking each size from its body.
func writeEntries(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := *e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func entryNamed(entries []tarEntry, name string) *tarEntry {
	for i := range entries {
		if entries[i].hdr.Name == name {
			return &entries[i]
		}
	}
	return nil
}

// withoutEntries returns entries minus those named.
func withoutEntries(entries []tarEntry, names ...string) []tarEntry {
	return slices.DeleteFunc(slices.Clone(entries), func(e tarEntry) bool { return slices.Contains(names, e.hdr.Name) })
}

// snapshotTree describes every file of an image's unpacked layers (type,
// mode, owner, size, content, link target, device, xattrs), to compare
// images unpacked in two roots.
func snapshotTree(t testing.TB, rt *Runtime, img *Image) []string {
	t.Helper()
	var out []string
	for i, c := range img.rec.ChainIDs {
		dir := rt.snaps.Path(c)
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			line := fmt.Sprintf("%d %s %o %d:%d %d", i, rel, st.Mode, st.Uid, st.Gid, st.Mtim.Nano())
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFREG:
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				sum := sha256.Sum256(data)
				line += fmt.Sprintf(" %d %s nlink=%d", len(data), hex.EncodeToString(sum[:8]), st.Nlink)
			case unix.S_IFLNK:
				target, _ := os.Readlink(p)
				line += " -> " + target
			case unix.S_IFCHR, unix.S_IFBLK:
				line += fmt.Sprintf(" dev=%d,%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
			}
			// Directory times move as children are written, whiteouts are
			// dated when made.
			if st.Mode&unix.S_IFMT == unix.S_IFDIR || (st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0) {
				line = fmt.Sprintf("%d %s %o %d:%d", i, rel, st.Mode, st.Uid, st.Gid)
			}
			return appendXattrs(&out, line, p)
		})
		if err != nil {
			t.Fatalf("snapshot %s: %v", c, err)
		}
	}
	return out
}

func appendXattrs(out *[]string, line, p string) error {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return err
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	for _, name := range names {
		if name == "" {
			continue
		}
		v := make([]byte, 4096)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			return err
		}
		line += fmt.Sprintf(" %s=%q", name, v[:m])
	}
	*out = append(*out, line)
	return nil
}

// sameImage checks that got (loaded) is want (saved) in every respect Load
// preserves.
func sameImage(t *testing.T, wantRT *Runtime, want *Image, gotRT *Runtime, got *Image) {
	t.Helper()
	if got.ID() != want.ID() || got.Digest() != want.Digest() {
		t.Errorf("loaded ID/digest %s/%s, want %s/%s", got.ID(), got.Digest(), want.ID(), want.Digest())
	}
	if !slices.Equal(got.RepoTags(), want.RepoTags()) {
		t.Errorf("loaded RepoTags %v, want %v", got.RepoTags(), want.RepoTags())
	}
	if !slices.Equal(got.Layers(), want.Layers()) {
		t.Errorf("loaded layers %+v, want %+v", got.Layers(), want.Layers())
	}
	if got.Size() != want.Size() || inspect(t, got).Descriptor.MediaType != inspect(t, want).Descriptor.MediaType {
		t.Errorf("loaded size %d type %s, want %d %s", got.Size(), inspect(t, got).Descriptor.MediaType, want.Size(), inspect(t, want).Descriptor.MediaType)
	}
	if g, w := snapshotTree(t, gotRT, got), snapshotTree(t, wantRT, want); !slices.Equal(g, w) {
		t.Errorf("unpacked files differ:\ngot  %v\nwant %v", g, w)
	}
}

// pullAll pulls each pushed image into rt.
func pullAll(t *testing.T, rt *Runtime, pushed ...testutil.Pushed) []*Image {
	t.Helper()
	var out []*Image
	for _, p := range pushed {
		img, err := rt.Pull(t.Context(), p.Ref)
		if err != nil {
			t.Fatalf("pull %s: %v", p.Ref, err)
		}
		out = append(out, img)
	}
	return out
}

func TestSaveLoadRoundTrip(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	reg := testutil.StartRegistry(t)
	busybox := testutil.BusyboxImage(t)
	docker := busybox
	docker.Docker = true
	rules, _ := unpackRulesImage()
	child := busybox
	child.Layers = append(slices.Clone(busybox.Layers), testutil.Layer{
		Files:       []testutil.File{{Name: "app/", Type: tar.TypeDir}, {Name: "app/run", Body: []byte("#!/bin/sh\n"), Mode: 0o755}, {Name: "bin/.wh.wget"}},
		Compression: testutil.Gzip,
	})
	child.Config.Cmd = []string{"/app/run"}
	cases := []struct {
		name string
		imgs []testutil.Image
		// dockerDigest: the docker save layout alone gives the same
		// manifest digest: Load makes the manifest hull and testutil make
		// (Docker schema2, or OCI when a layer is zstd).
		dockerDigest bool
	}{
		{"oci", []testutil.Image{busybox}, false},
		{"docker schema2", []testutil.Image{docker}, true},
		{"whiteouts and three compressions", []testutil.Image{rules}, true},
		{"shared base layer", []testutil.Image{busybox, child}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var pushed []testutil.Pushed
			var refs []string
			for i, img := range tc.imgs {
				p := reg.Push(t, fmt.Sprintf("test/%s-%d:v%d", strings.ReplaceAll(tc.name, " ", "-"), i, i), img)
				pushed, refs = append(pushed, p), append(refs, p.Ref)
			}
			src := openTest(t)
			want := pullAll(t, src, pushed...)
			data := saveArchive(t, src, refs...)
			checkArchiveLayout(t, data, want)

			dst := openTest(t)
			got, err := dst.Load(t.Context(), bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("loaded %d images, want %d", len(got), len(want))
			}
			for i := range want {
				sameImage(t, src, want[i], dst, got[i])
			}

			// The docker save layout alone, as older Docker reads it.
			entries := readEntries(t, data)
			dockerOnly := writeEntries(t, withoutEntries(entries, imagearchive.IndexFile, imagearchive.LayoutFile))
			dst2 := openTest(t)
			got2, err := dst2.Load(t.Context(), bytes.NewReader(dockerOnly))
			if err != nil {
				t.Fatalf("load docker layout: %v", err)
			}
			for i := range want {
				g, w := got2[i], want[i]
				if g.ID() != w.ID() || !slices.Equal(g.RepoTags(), w.RepoTags()) || (g.Digest() == w.Digest()) != tc.dockerDigest {
					t.Errorf("docker layout: ID %s tags %v digest %s; want %s %v (same digest: %v) %s", g.ID(), g.RepoTags(), g.Digest(), w.ID(), w.RepoTags(), tc.dockerDigest, w.Digest())
				}
				if gt, wt := snapshotTree(t, dst2, g), snapshotTree(t, src, w); !slices.Equal(gt, wt) {
					t.Errorf("docker layout: unpacked files differ")
				}
			}

			// Loading what the root already has changes nothing.
			before := rootListing(t, src.Root())
			if _, err := src.Load(t.Context(), bytes.NewReader(data)); err != nil {
				t.Fatalf("reload: %v", err)
			}
			if after := rootListing(t, src.Root()); !slices.Equal(before, after) {
				t.Errorf("reload changed the root:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// checkArchiveLayout checks the two layouts of a saved archive: every
// entry once, blobs under blobs/sha256, index.json names, manifest.json
// items.
func checkArchiveLayout(t *testing.T, data []byte, imgs []*Image) {
	t.Helper()
	entries := readEntries(t, data)
	seen := map[string]bool{}
	for _, e := range entries {
		if seen[e.hdr.Name] {
			t.Errorf("%s written twice", e.hdr.Name)
		}
		seen[e.hdr.Name] = true
		if d := imagearchive.BlobDigest(e.hdr.Name); d != "" && sha256Hex(e.body) != d.Encoded() {
			t.Errorf("%s holds content hashing to %s", e.hdr.Name, sha256Hex(e.body))
		}
	}
	if e := entryNamed(entries, imagearchive.LayoutFile); e == nil || string(e.body) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout: %v", e)
	}
	var idx ocispec.Index
	var items []imagearchive.ManifestItem
	if err := json.Unmarshal(entryNamed(entries, imagearchive.IndexFile).body, &idx); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(entryNamed(entries, imagearchive.ManifestFile).body, &items); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != len(imgs) || len(items) != len(imgs) {
		t.Fatalf("index.json lists %d, manifest.json %d; want %d", len(idx.Manifests), len(items), len(imgs))
	}
	for i, img := range imgs {
		d := idx.Manifests[i]
		tag := img.RepoTags()[0]
		r, _ := ParseReference(tag)
		if d.Digest != img.Digest() || d.Annotations[imagearchive.AnnotationImageName] != r.String() || d.Annotations[ocispec.AnnotationRefName] != r.Tag {
			t.Errorf("index.json entry %+v for %s", d, tag)
		}
		it := items[i]
		if it.Config != "blobs/sha256/"+digest.Digest(img.ID()).Encoded() || !slices.Equal(it.RepoTags, []string{tag}) || len(it.Layers) != len(img.Layers()) {
			t.Errorf("manifest.json item %+v for %s", it, tag)
		}
		for k, l := range img.Layers() {
			if it.Layers[k] != imagearchive.BlobPath(l.Digest) || !seen[it.Layers[k]] {
				t.Errorf("manifest.json layer %s, want %s in the archive", it.Layers[k], imagearchive.BlobPath(l.Digest))
			}
		}
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestSaveNames(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	img := testutil.Image{Layers: []testutil.Layer{{Files: []testutil.File{{Name: "f", Body: []byte("1")}}}}}
	p1 := reg.Push(t, "test/names:1", img)
	rt := openTest(t)
	got := pullAll(t, rt, p1)[0]
	ctx := t.Context()
	repo := reg.Host + "/test/names"
	for _, tag := range []string{"2", "3"} {
		if err := rt.Tag(ctx, p1.Ref, repo+":"+tag); err != nil {
			t.Fatal(err)
		}
	}
	tagsIn := func(data []byte) []string {
		var items []imagearchive.ManifestItem
		json.Unmarshal(entryNamed(readEntries(t, data), imagearchive.ManifestFile).body, &items)
		var out []string
		for _, it := range items {
			out = append(out, it.RepoTags...)
		}
		return out
	}
	cases := []struct {
		refs []string
		tags []string
	}{
		{[]string{repo}, []string{repo + ":1", repo + ":2", repo + ":3"}}, // a bare repository: every tag
		{[]string{repo + ":2", repo + ":2"}, []string{repo + ":2"}},       // named twice, written once
		{[]string{got.ID()}, nil},                                         // by ID: no name
		{[]string{repo + "@" + got.Digest().String()}, nil},               // by digest: no name
	}
	for _, tc := range cases {
		data := saveArchive(t, rt, tc.refs...)
		if tags := tagsIn(data); !slices.Equal(tags, tc.tags) {
			t.Errorf("save %v: RepoTags %v, want %v", tc.refs, tags, tc.tags)
		}
	}
	// One image under three names: loaded once, with the three tags.
	loaded, err := openTest(t).Load(ctx, bytes.NewReader(saveArchive(t, rt, repo)))
	if err != nil || len(loaded) != 1 || len(loaded[0].RepoTags()) != 3 {
		t.Errorf("load of three tags: %v, %v", loaded, err)
	}
	if err := rt.Save(ctx, io.Discard, "no/such:image"); !errors.Is(err, ErrNotFound) {
		t.Errorf("save of an absent image: %v, want ErrNotFound", err)
	}
	if err := rt.Save(ctx, io.Discard); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("save of nothing: %v, want ErrInvalidArgument", err)
	}
	// Untagged in the archive: loaded by ID.
	dst := openTest(t)
	loaded, err = dst.Load(ctx, bytes.NewReader(saveArchive(t, rt, got.ID())))
	if err != nil || len(loaded) != 1 || loaded[0].ID() != got.ID() || len(loaded[0].RepoTags()) != 0 {
		t.Fatalf("load untagged: %v %v", loaded, err)
	}
	// Saving twice gives the same bytes.
	if a, b := saveArchive(t, rt, p1.Ref), saveArchive(t, rt, p1.Ref); !bytes.Equal(a, b) {
		t.Errorf("two saves differ")
	}
}

// TestSaveLoadKeepsHostLikeHubNames: a Docker Hub name whose first
// component looks like a host ("docker.io/ghcr.io/org/app") keeps its full
// form where it is shown and saved, since its short form names another
// registry's repository; Save then Load keeps the tag, and the short form
// does not find the image.
func TestSaveLoadKeepsHostLikeHubNames(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const name = "docker.io/ghcr.io/org/app:1"
	rt := openTest(t)
	img := importOne(t, rt, name, "hub")
	if got := img.RepoTags(); !slices.Equal(got, []string{name}) {
		t.Errorf("RepoTags %v, want [%s]", got, name)
	}
	dst := openTest(t)
	loaded, err := dst.Load(ctx, bytes.NewReader(saveArchive(t, rt, name)))
	if err != nil || len(loaded) != 1 || !slices.Equal(loaded[0].RepoTags(), []string{name}) {
		t.Fatalf("load of the saved image: %v, %v; want it tagged %s", loaded, err, name)
	}
	if got, err := dst.Image(ctx, "ghcr.io/org/app:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ghcr.io/org/app:1 -> %v, %v; want ErrNotFound", got, err)
	}
}
