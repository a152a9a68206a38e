//go:build linux

package hull

import (
	"archive/tar"
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/store"
	"github.com/hullbox/hull/internal/testutil"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// uploadLog records the blob uploads a registry receives: the digest of
// each completed upload (the PUT), the mounts asked for (POST ?mount=) and
// the chunks (PATCH).
type uploadLog struct {
	mu      sync.Mutex
	puts    []digest.Digest
	mounts  map[digest.Digest]string // digest -> from
	patches int
}

func newUploadLog() *uploadLog { return &uploadLog{mounts: map[digest.Digest]string{}} }

func (l *uploadLog) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/uploads/") {
			q := r.URL.Query()
			l.mu.Lock()
			switch r.Method {
			case http.MethodPut:
				l.puts = append(l.puts, digest.Digest(q.Get("digest")))
			case http.MethodPatch:
				l.patches++
			case http.MethodPost:
				if m := q.Get("mount"); m != "" {
					l.mounts[digest.Digest(m)] = q.Get("from")
				}
			}
			l.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (l *uploadLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.puts, l.patches = nil, 0
	clear(l.mounts)
}

func (l *uploadLog) uploaded() []digest.Digest {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.puts)
	slices.Sort(out)
	return out
}

// noDockerConfig keeps the host's ~/.docker/config.json out of a test.
func noDockerConfig(t testing.TB) Option {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	return WithDockerConfig(p)
}

// progressLog collects progress reports.
type progressLog struct {
	mu  sync.Mutex
	all []Progress
}

func (p *progressLog) option() ImageOption {
	return WithProgress(func(pr Progress) {
		p.mu.Lock()
		p.all = append(p.all, pr)
		p.mu.Unlock()
	})
}

// statuses returns the last status reported for each ID.
func (p *progressLog) statuses() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]string{}
	for _, pr := range p.all {
		out[pr.ID] = pr.Status
	}
	return out
}

func (p *progressLog) has(status string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.all, func(pr Progress) bool { return pr.Status == status })
}

// twoLayerImage is busybox plus a small layer holding content.
func twoLayerImage(t testing.TB, content string, docker bool) testutil.Image {
	t.Helper()
	img := testutil.BusyboxImage(t)
	img.Docker = docker
	img.Layers = append(img.Layers, testutil.Layer{
		Files:       []testutil.File{{Name: "app/", Type: tar.TypeDir}, {Name: "app/version", Body: []byte(content)}},
		Compression: testutil.Gzip,
	})
	return img
}

// remoteManifest fetches a manifest from a registry by tag or digest.
func remoteManifest(t testing.TB, reg *testutil.Registry, repo, ref string) (ocispec.Descriptor, []byte) {
	t.Helper()
	desc, rc, err := reg.Repository(t, repo).FetchReference(t.Context(), ref)
	if err != nil {
		t.Fatalf("fetch %s:%s: %v", repo, ref, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return desc, buf.Bytes()
}

func TestPushRoundTrip(t *testing.T) {
	t.Parallel()
	src := testutil.StartRegistry(t)
	for _, docker := range []bool{false, true} {
		name := map[bool]string{false: "oci", true: "docker"}[docker]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dst := testutil.StartRegistry(t)
			pushed := src.Push(t, "src/"+name+":1", twoLayerImage(t, name, docker))
			rt := openTest(t)
			img, err := rt.Pull(t.Context(), pushed.Ref)
			if err != nil {
				t.Fatal(err)
			}
			target := dst.Host + "/dst/" + name + ":v1"
			if err := rt.Tag(t.Context(), pushed.Ref, target); err != nil {
				t.Fatal(err)
			}
			var progress progressLog
			if err := rt.Push(t.Context(), target, progress.option()); err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{"Preparing", "Pushing", "Pushed", "Done"} {
				if !progress.has(s) {
					t.Errorf("no %q progress report in %+v", s, progress.all)
				}
			}
			// The registry holds the stored manifest, byte for byte.
			desc, raw := remoteManifest(t, dst, "dst/"+name, "v1")
			if desc.Digest != pushed.ManifestDigest || !bytes.Equal(raw, pushed.Manifest) {
				t.Fatalf("remote manifest %s, want %s", desc.Digest, pushed.ManifestDigest)
			}
			wantMT := map[bool]string{false: ocispec.MediaTypeImageManifest, true: testutil.MediaTypeDockerManifest}[docker]
			if desc.MediaType != wantMT {
				t.Errorf("remote media type %q, want %q", desc.MediaType, wantMT)
			}
			// The image gained the repository digest.
			img, err = rt.Image(t.Context(), target)
			if err != nil {
				t.Fatal(err)
			}
			repoDigest := dst.Host + "/dst/" + name + "@" + pushed.ManifestDigest.String()
			if !slices.Contains(img.RepoDigests(), repoDigest) {
				t.Errorf("RepoDigests %v lack %s", img.RepoDigests(), repoDigest)
			}
			// A fresh root pulls back the same image, by tag and by digest.
			for _, ref := range []string{target, repoDigest} {
				fresh := openTest(t)
				got, err := fresh.Pull(t.Context(), ref)
				if err != nil {
					t.Fatalf("pull %s: %v", ref, err)
				}
				if got.Digest() != img.Digest() || got.ID() != img.ID() || !slices.Equal(got.Layers(), img.Layers()) {
					t.Errorf("pulled %s: %s/%s %v, pushed %s/%s %v", ref, got.Digest(), got.ID(), got.Layers(), img.Digest(), img.ID(), img.Layers())
				}
			}
		})
	}
}

// TestPushImported pushes an image made locally (an uncompressed OCI layer,
// pushed compressed: a new manifest, the same image ID) and pulls it back.
func TestPushImported(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	rt := openTest(t)
	ref := reg.Host + "/imported/app:1"
	tarball := testutil.TarBytes(t, []testutil.File{{Name: "hello", Body: []byte("hi")}})
	img, err := rt.Import(t.Context(), bytes.NewReader(tarball), ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Push(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	got, err := openTest(t).Pull(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err = rt.Image(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if repoDigest := ref[:strings.LastIndex(ref, ":")] + "@" + got.Digest().String(); got.ID() != img.ID() || !slices.Contains(img.RepoDigests(), repoDigest) {
		t.Errorf("pulled %s/%s, pushed %s (RepoDigests %v)", got.Digest(), got.ID(), img.ID(), img.RepoDigests())
	}
}

func TestPushOnlyMissing(t *testing.T) {
	t.Parallel()
	src := testutil.StartRegistry(t)
	counts, count := testutil.CountRequests()
	uploads := newUploadLog()
	dst := testutil.StartRegistry(t, testutil.WithMiddleware(count), testutil.WithMiddleware(uploads.middleware))
	v1 := src.Push(t, "app:1", twoLayerImage(t, "one", false))
	v2 := src.Push(t, "app:2", twoLayerImage(t, "two", false))
	if v1.LayerDigests[0] != v2.LayerDigests[0] || v1.LayerDigests[1] == v2.LayerDigests[1] {
		t.Fatalf("test images should share exactly their base layer: %v %v", v1.LayerDigests, v2.LayerDigests)
	}
	rt := openTest(t)
	for _, p := range []testutil.Pushed{v1, v2} {
		if _, err := rt.Pull(t.Context(), p.Ref); err != nil {
			t.Fatal(err)
		}
	}
	target := dst.Host + "/app:latest"
	if err := rt.Tag(t.Context(), v1.Ref, target); err != nil {
		t.Fatal(err)
	}
	if err := rt.Push(t.Context(), target); err != nil {
		t.Fatal(err)
	}
	want := []digest.Digest{v1.ConfigDigest, v1.LayerDigests[0], v1.LayerDigests[1]}
	slices.Sort(want)
	if got := uploads.uploaded(); !slices.Equal(got, want) {
		t.Fatalf("first push uploaded %v, want %v", got, want)
	}

	t.Run("unchanged", func(t *testing.T) {
		counts.Reset()
		uploads.reset()
		var progress progressLog
		if err := rt.Push(t.Context(), target, progress.option()); err != nil {
			t.Fatal(err)
		}
		if n := counts.Get(testutil.BlobUpload); n != 0 {
			t.Errorf("second push made %d upload requests, want 0", n)
		}
		if n := counts.Get(testutil.ManifestPut); n != 1 {
			t.Errorf("second push put %d manifests, want 1", n)
		}
		st := progress.statuses()
		for _, l := range v1.LayerDigests {
			if s := st[shortID(l)]; s != "Layer already exists" {
				t.Errorf("layer %s: last status %q", l, s)
			}
		}
	})
	t.Run("one layer changed", func(t *testing.T) {
		uploads.reset()
		if err := rt.Tag(t.Context(), v2.Ref, target); err != nil {
			t.Fatal(err)
		}
		if err := rt.Push(t.Context(), target); err != nil {
			t.Fatal(err)
		}
		want := []digest.Digest{v2.ConfigDigest, v2.LayerDigests[1]}
		slices.Sort(want)
		if got := uploads.uploaded(); !slices.Equal(got, want) {
			t.Fatalf("push of a one-layer change uploaded %v, want %v", got, want)
		}
		desc, _ := remoteManifest(t, dst, "app", "latest")
		if desc.Digest != v2.ManifestDigest {
			t.Errorf("tag points at %s, want %s", desc.Digest, v2.ManifestDigest)
		}
	})
}

func TestPushMountsAcrossRepositories(t *testing.T) {
	t.Parallel()
	uploads := newUploadLog()
	reg := testutil.StartRegistry(t, testutil.WithMiddleware(uploads.middleware))
	pushed := reg.Push(t, "team/base:1", twoLayerImage(t, "mount", true))
	rt := openTest(t)
	if _, err := rt.Pull(t.Context(), pushed.Ref); err != nil {
		t.Fatal(err)
	}
	blobs := append([]digest.Digest{pushed.ConfigDigest}, pushed.LayerDigests...)

	// The image was pulled from team/base: its repository digest says where
	// the blobs are.
	uploads.reset()
	first := reg.Host + "/team/app:1"
	if err := rt.Tag(t.Context(), pushed.Ref, first); err != nil {
		t.Fatal(err)
	}
	var progress progressLog
	if err := rt.Push(t.Context(), first, progress.option()); err != nil {
		t.Fatal(err)
	}
	checkMounted(t, uploads, blobs, "team/base")
	for _, l := range pushed.LayerDigests {
		if s := progress.statuses()[shortID(l)]; s != "Mounted from team/base" {
			t.Errorf("layer %s: last status %q, want Mounted from team/base", l, s)
		}
	}

	// Once the repository digests are gone, the store's record of pushes
	// still knows: the last push put the blobs in team/app.
	err := rt.store.UpdateIndex(t.Context(), func(ix *store.Index) error {
		for _, rec := range ix.Images {
			rec.RepoDigests = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	uploads.reset()
	second := reg.Host + "/other/app:1"
	if err := rt.Tag(t.Context(), pushed.Ref, second); err != nil {
		t.Fatal(err)
	}
	if err := rt.Push(t.Context(), second); err != nil {
		t.Fatal(err)
	}
	checkMounted(t, uploads, blobs, "team/app")

	// What was mounted pulls back whole.
	got, err := openTest(t).Pull(t.Context(), second)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest() != pushed.ManifestDigest {
		t.Errorf("pulled %s, pushed %s", got.Digest(), pushed.ManifestDigest)
	}
}

func checkMounted(t *testing.T, uploads *uploadLog, blobs []digest.Digest, from string) {
	t.Helper()
	if got := uploads.uploaded(); len(got) != 0 {
		t.Errorf("uploaded %v, want everything mounted", got)
	}
	if uploads.patches != 0 {
		t.Errorf("%d PATCH requests, want none", uploads.patches)
	}
	for _, d := range blobs {
		if f := uploads.mounts[d]; f != from {
			t.Errorf("blob %s mounted from %q, want %q", d, f, from)
		}
	}
}

func TestMountSources(t *testing.T) {
	t.Parallel()
	a, b, c := digest.FromString("a"), digest.FromString("b"), digest.FromString("c")
	ix := &store.Index{Images: map[digest.Digest]*store.ImageRecord{
		digest.FromString("m1"): {Manifest: digest.FromString("m1"), Config: c, Layers: []digest.Digest{a, b},
			RepoDigests: []string{"other.io/x/y@" + digest.FromString("m1").String(), "reg.io/base@" + digest.FromString("m1").String()}},
		// Pushed with its layers compressed: reg.io/compressed holds
		// other blobs than a and b.
		digest.FromString("m2"): {Manifest: digest.FromString("m2"), Config: c, Layers: []digest.Digest{a, b},
			RepoDigests: []string{"reg.io/compressed@" + digest.FromString("pushed").String()}, Added: time.Now()},
	}}
	known := map[digest.Digest][]string{
		a: {"reg.io/app", "reg.io/recent"}, // the target itself is skipped
		b: {"docker.io/library/b"},         // another registry
	}
	r, _ := ParseReference("reg.io/app:1")
	got := mountSources(ix, known, r, map[digest.Digest]bool{a: true, b: true, c: true})
	want := map[digest.Digest]string{a: "recent", b: "base", c: "base"}
	for d, w := range want {
		if got[d] != w {
			t.Errorf("source of %s = %q, want %q", d, got[d], w)
		}
	}
}

func TestPushErrors(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	rt := openTest(t)
	for _, tc := range []struct {
		ref  string
		want error
	}{
		{reg.Host + "/missing:1", ErrNotFound},
		{"Bad Ref", ErrInvalidReference},
		// An image-ID-like string is a Docker Hub name to push, not a
		// local lookup: nothing is tagged so, and nothing is sent.
		{"abc123def456", ErrNotFound},
		{reg.Host + "/x@" + digest.FromString("nope").String(), ErrNotFound},
	} {
		if err := rt.Push(t.Context(), tc.ref); !errors.Is(err, tc.want) {
			t.Errorf("Push(%q) = %v, want %v", tc.ref, err, tc.want)
		}
	}
	rt.Close()
	if err := rt.Push(t.Context(), reg.Host+"/x:1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Push on a closed runtime = %v", err)
	}
}

func TestPushByDigest(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	rt := openTest(t)
	tarball := testutil.TarBytes(t, []testutil.File{{Name: "f", Body: []byte("by digest")}})
	img, err := rt.Import(t.Context(), bytes.NewReader(tarball), "")
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/pinned@" + img.Digest().String()
	if err := rt.Push(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if desc, _ := remoteManifest(t, reg, "pinned", img.Digest().String()); desc.Digest != img.Digest() {
		t.Errorf("remote %s, want %s", desc.Digest, img.Digest())
	}
	// distribution answers NAME_UNKNOWN for a repository without tags.
	if tags, err := rt.RemoteTags(t.Context(), reg.Host+"/pinned"); len(tags) != 0 || (err != nil && !errors.Is(err, ErrNotFound)) {
		t.Errorf("a push by digest made tags %v (%v)", tags, err)
	}
}

// TestPushSkopeoReads checks that skopeo reads what hull pushed: the same
// manifest bytes, and every blob verified on copy.
func TestPushSkopeoReads(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("skopeo not installed (apt-get install skopeo)")
	}
	src := testutil.StartRegistry(t)
	dst := testutil.StartRegistry(t)
	pushed := src.Push(t, "s/app:1", twoLayerImage(t, "skopeo", true))
	rt := openTest(t)
	if _, err := rt.Pull(t.Context(), pushed.Ref); err != nil {
		t.Fatal(err)
	}
	target := dst.Host + "/s/app:1"
	if err := rt.Tag(t.Context(), pushed.Ref, target); err != nil {
		t.Fatal(err)
	}
	if err := rt.Push(t.Context(), target); err != nil {
		t.Fatal(err)
	}
	raw, err := exec.CommandContext(t.Context(), "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+target).Output()
	if err != nil {
		t.Fatalf("skopeo inspect: %v", err)
	}
	if !bytes.Equal(raw, pushed.Manifest) {
		t.Errorf("skopeo sees manifest %s, pushed %s", digest.FromBytes(raw), pushed.ManifestDigest)
	}
	layout := filepath.Join(t.TempDir(), "layout")
	out, err := exec.CommandContext(t.Context(), "skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://"+target, "oci:"+layout+":x").CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, out)
	}
}
