package testutil

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// fetch returns the content of desc from repo, checking its digest.
func fetch(t *testing.T, repo *remote.Repository, desc ocispec.Descriptor) []byte {
	t.Helper()
	rc, err := repo.Fetch(t.Context(), desc)
	if err != nil {
		t.Fatalf("fetch %s: %v", desc.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", desc.Digest, err)
	}
	if got := digest.FromBytes(b); got != desc.Digest {
		t.Fatalf("fetched %s, digest %s", desc.Digest, got)
	}
	return b
}

func decompress(t *testing.T, mediaType string, b []byte) []byte {
	t.Helper()
	switch mediaType {
	case ocispec.MediaTypeImageLayer, MediaTypeDockerLayer:
		return b
	case ocispec.MediaTypeImageLayerGzip, MediaTypeDockerLayerGzip:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return out
	case ocispec.MediaTypeImageLayerZstd, MediaTypeDockerLayerZstd:
		dec, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		out, err := dec.DecodeAll(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Fatalf("unexpected layer media type %q", mediaType)
	return nil
}

// checkPulled fetches p back by tag and checks every digest Push reported,
// returning the manifest and the uncompressed layer tars.
func checkPulled(t *testing.T, reg *Registry, repoName, tag string, p Pushed) (ocispec.Manifest, [][]byte) {
	t.Helper()
	repo := reg.Repository(t, repoName)
	desc, rc, err := repo.FetchReference(t.Context(), tag)
	if err != nil {
		t.Fatalf("fetch %s:%s: %v", repoName, tag, err)
	}
	raw, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != p.ManifestDigest || !bytes.Equal(raw, p.Manifest) {
		t.Fatalf("manifest digest %s, pushed %s", desc.Digest, p.ManifestDigest)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Config.Digest != p.ConfigDigest {
		t.Fatalf("config %s, pushed %s", m.Config.Digest, p.ConfigDigest)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(fetch(t, repo, m.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.RootFS.DiffIDs, p.DiffIDs) {
		t.Fatalf("config diff_ids %v, pushed %v", cfg.RootFS.DiffIDs, p.DiffIDs)
	}
	var tars [][]byte
	for i, l := range m.Layers {
		if l.Digest != p.LayerDigests[i] {
			t.Fatalf("layer %d: %s, pushed %s", i, l.Digest, p.LayerDigests[i])
		}
		tr := decompress(t, l.MediaType, fetch(t, repo, l))
		if got := digest.FromBytes(tr); got != p.DiffIDs[i] {
			t.Fatalf("layer %d: diff_id %s, pushed %s", i, got, p.DiffIDs[i])
		}
		tars = append(tars, tr)
	}
	return m, tars
}

func tarNames(t *testing.T, b []byte) map[string]*tar.Header {
	t.Helper()
	names := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = h
	}
}

func TestPushBusybox(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		opts     []RegistryOption
		docker   bool
		manifest string
	}{
		{"oci", nil, false, ocispec.MediaTypeImageManifest},
		{"docker", nil, true, MediaTypeDockerManifest},
		{"oci-auth", []RegistryOption{WithBasicAuth("alice", "s3cret")}, false, ocispec.MediaTypeImageManifest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := StartRegistry(t, tc.opts...)
			img := BusyboxImage(t)
			img.Docker = tc.docker
			p := reg.Push(t, "test/busybox:1", img)
			if p.Ref != reg.Host+"/test/busybox:1" {
				t.Errorf("ref %q", p.Ref)
			}
			m, tars := checkPulled(t, reg, "test/busybox", "1", p)
			if m.MediaType != tc.manifest {
				t.Errorf("manifest media type %q, want %q", m.MediaType, tc.manifest)
			}
			names := tarNames(t, tars[0])
			for _, n := range []string{"bin/busybox", "bin/sh", "etc/passwd", "tmp/"} {
				if names[n] == nil {
					t.Errorf("layer lacks %s", n)
				}
			}
			if h := names["tmp/"]; h != nil && h.Mode != 0o1777 {
				t.Errorf("tmp mode %o", h.Mode)
			}
			if h := names["home/app/"]; h == nil || h.Uid != 1000 || h.Gid != 1000 {
				t.Errorf("home/app: %+v", h)
			}
			// Pushing the same image again is reproducible.
			if again := reg.Push(t, "test/busybox:2", img); again.ManifestDigest != p.ManifestDigest {
				t.Errorf("second push %s, first %s", again.ManifestDigest, p.ManifestDigest)
			}
		})
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	reg := StartRegistry(t, WithBasicAuth("alice", "s3cret"))
	p := reg.Push(t, "private/app:v1", Image{Layers: []Layer{{Files: []File{{Name: "hello", Body: []byte("hi")}}}}})
	checkPulled(t, reg, "private/app", "v1", p)

	for _, tc := range []struct {
		name string
		cred *auth.Credential
	}{
		{"wrong-password", &auth.Credential{Username: "alice", Password: "nope"}},
		{"unknown-user", &auth.Credential{Username: "bob", Password: "s3cret"}},
		{"anonymous", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := reg.Repository(t, "private/app")
			client := &auth.Client{Client: &http.Client{}}
			if tc.cred != nil {
				client.Credential = auth.StaticCredential(reg.Host, *tc.cred)
			}
			repo.Client = client
			_, err := repo.Resolve(t.Context(), "v1")
			var er *errcode.ErrorResponse
			switch {
			case tc.cred == nil && errors.Is(err, auth.ErrBasicCredentialNotFound):
				// oras gives up on the 401 challenge without asking again.
			case errors.As(err, &er) && er.StatusCode == http.StatusUnauthorized:
			default:
				t.Fatalf("resolve: %v, want a 401", err)
			}

			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, reg.URL+"/v2/", nil)
			if tc.cred != nil {
				req.SetBasicAuth(tc.cred.Username, tc.cred.Password)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("GET /v2/: %s, challenge %q", resp.Status, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestPushIndex(t *testing.T) {
	t.Parallel()
	reg := StartRegistry(t)
	layer := func(s string) []Layer {
		return []Layer{{Files: []File{{Name: "arch", Body: []byte(s)}}, Compression: Gzip}}
	}
	imgs := []Image{
		{Layers: layer("amd64"), Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		{Layers: layer("arm64"), Platform: ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
	}
	for _, docker := range []bool{false, true} {
		want, child := ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest
		if docker {
			want, child = MediaTypeDockerManifestList, MediaTypeDockerManifest
		}
		index, children := reg.PushIndex(t, "multi/arch:latest", imgs, docker)
		repo := reg.Repository(t, "multi/arch")
		desc, err := repo.Resolve(t.Context(), "latest")
		if err != nil {
			t.Fatal(err)
		}
		if desc.Digest != index.ManifestDigest || desc.MediaType != want {
			t.Fatalf("resolved %s %s, want %s %s", desc.MediaType, desc.Digest, want, index.ManifestDigest)
		}
		var idx ocispec.Index
		if err := json.Unmarshal(fetch(t, repo, desc), &idx); err != nil {
			t.Fatal(err)
		}
		if len(idx.Manifests) != 2 || len(children) != 2 {
			t.Fatalf("index has %d manifests, %d children", len(idx.Manifests), len(children))
		}
		for i, m := range idx.Manifests {
			if m.Digest != children[i].ManifestDigest || m.MediaType != child {
				t.Errorf("entry %d: %s %s, child %s", i, m.MediaType, m.Digest, children[i].ManifestDigest)
			}
			if m.Platform == nil || m.Platform.Architecture != imgs[i].Platform.Architecture {
				t.Errorf("entry %d: platform %+v", i, m.Platform)
			}
			checkPulled(t, reg, "multi/arch", m.Digest.String(), children[i])
		}
	}
}

func TestCompressions(t *testing.T) {
	t.Parallel()
	reg := StartRegistry(t)
	body := bytes.Repeat([]byte("compress me "), 1000)
	for _, tc := range []struct {
		docker bool
		want   []string
	}{
		{false, []string{ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd}},
		{true, []string{MediaTypeDockerLayer, MediaTypeDockerLayerGzip, MediaTypeDockerLayerZstd}},
	} {
		img := Image{Docker: tc.docker}
		for _, c := range []Compression{Uncompressed, Gzip, Zstd} {
			img.Layers = append(img.Layers, Layer{Compression: c, Files: []File{
				{Name: "d/", Type: tar.TypeDir},
				{Name: "d/f", Body: body, Xattrs: map[string]string{"user.k": "v"}},
				{Name: "d/link", Type: tar.TypeLink, Linkname: "d/f"},
				{Name: "d/null", Type: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666},
			}})
		}
		p := reg.Push(t, "comp/all:1", img)
		m, tars := checkPulled(t, reg, "comp/all", "1", p)
		for i, l := range m.Layers {
			if l.MediaType != tc.want[i] {
				t.Errorf("layer %d: %s, want %s", i, l.MediaType, tc.want[i])
			}
			if i > 0 && l.Size >= m.Layers[0].Size {
				t.Errorf("layer %d: %d bytes, not compressed", i, l.Size)
			}
			h := tarNames(t, tars[i])
			if f := h["d/f"]; f == nil || f.PAXRecords["SCHILY.xattr.user.k"] != "v" || f.Size != int64(len(body)) {
				t.Errorf("layer %d: d/f is %+v", i, f)
			}
			if n := h["d/null"]; n == nil || n.Devmajor != 1 || n.Devminor != 3 {
				t.Errorf("layer %d: d/null is %+v", i, n)
			}
		}
		if p.DiffIDs[0] != p.DiffIDs[1] || p.DiffIDs[1] != p.DiffIDs[2] {
			t.Errorf("same files, different diff_ids: %v", p.DiffIDs)
		}
	}
}

func TestRawLayerAndTarErrors(t *testing.T) {
	t.Parallel()
	raw := TarBytes(t, []File{{Name: "../escape", Body: []byte("x")}})
	reg := StartRegistry(t)
	p := reg.Push(t, "hostile/raw:1", Image{Layers: []Layer{{Raw: raw, Compression: Gzip}}})
	if p.DiffIDs[0] != digest.FromBytes(raw) {
		t.Errorf("diff_id %s, want digest of Raw", p.DiffIDs[0])
	}
	if _, err := tarBytes([]File{{Name: "l", Type: tar.TypeSymlink, Body: []byte("x")}}); err == nil {
		t.Error("body on a symlink: no error")
	}
}

func TestCutAfter(t *testing.T) {
	t.Parallel()
	counts, count := CountRequests()
	reg := StartRegistry(t, WithMiddleware(count), WithMiddleware(CutAfter(1000)))
	big := make([]byte, 256<<10)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(big)
	p := reg.Push(t, "cut/me:1", Image{Layers: []Layer{{Files: []File{{Name: "big", Body: big}}}}})
	if counts.Get(BlobUpload) == 0 || counts.Get(ManifestPut) != 1 {
		t.Fatalf("push counts: %v", counts.Snapshot())
	}
	counts.Reset()

	get := func(dgst digest.Digest) (int, error) {
		resp, err := http.Get(reg.URL + "/v2/cut/me/blobs/" + dgst.String())
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return len(b), err
	}
	layer := p.LayerDigests[0]
	n, err := get(layer)
	if !errors.Is(err, io.ErrUnexpectedEOF) || n != 1000 {
		t.Fatalf("first GET: %d bytes, %v; want 1000 bytes and unexpected EOF", n, err)
	}
	n, err = get(layer)
	if err != nil || n <= 1000 {
		t.Fatalf("second GET: %d bytes, %v", n, err)
	}
	// The config blob is shorter than 1000 bytes: never cut.
	if _, err := get(p.ConfigDigest); err != nil {
		t.Fatalf("config GET: %v", err)
	}
	if counts.BlobGets(layer.String()) != 2 || counts.Get(BlobGet) != 3 {
		t.Errorf("counts: %v, layer GETs %d", counts.Snapshot(), counts.BlobGets(layer.String()))
	}
}

func TestParseRoute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method, path string
		want         RequestKind
	}{
		{"GET", "/v2/", Other},
		{"GET", "/v2/a/b/blobs/sha256:abc", BlobGet},
		{"HEAD", "/v2/a/blobs/sha256:abc", BlobHead},
		{"POST", "/v2/a/blobs/uploads/", BlobUpload},
		{"PATCH", "/v2/a/blobs/uploads/123-uuid", BlobUpload},
		{"PUT", "/v2/a/blobs/uploads/123-uuid", BlobUpload},
		{"GET", "/v2/blobs/manifests/latest", ManifestGet},
		{"HEAD", "/v2/a/manifests/sha256:abc", ManifestHead},
		{"PUT", "/v2/a/manifests/1", ManifestPut},
		{"GET", "/v2/a/tags/list", Other},
		{"GET", "/v2/uploads/blobs/sha256:abc", BlobGet},
		{"GET", "/v2/a/blobs/uploads", Other},
		{"DELETE", "/v2/a/manifests/sha256:abc", Other},
	} {
		r, _ := http.NewRequest(tc.method, "http://x"+tc.path, nil)
		if got := kindOf(r); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestBenchImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and pushes 100 MB")
	}
	start := time.Now()
	img := BenchImage(t, 42)
	t.Logf("built in %s", time.Since(start))
	if again := BenchImage(t, 42); again.Layers[1].built != img.Layers[1].built {
		t.Error("second BenchImage was rebuilt, not cached")
	}
	var total int
	for _, l := range img.Layers {
		total += len(l.built.blob)
	}
	if total < 90<<20 || total > 120<<20 {
		t.Errorf("blobs total %d MiB", total>>20)
	}
	if n := len(img.Layers[0].Files); n < 2000 {
		t.Errorf("layer 1 has %d entries", n)
	}
	reg := StartRegistry(t, WithDiskStorage())
	start = time.Now()
	p := reg.Push(t, "bench/big:1", img)
	t.Logf("pushed in %s", time.Since(start))
	_, tars := checkPulled(t, reg, "bench/big", "1", p)
	top := tarNames(t, tars[4])
	if top["data/d00/s0/.wh.f00.bin"] == nil || top[BenchSymlink] == nil {
		t.Errorf("layer 5: %v", top)
	}
	if tarNames(t, tars[0])[BenchTarget] == nil || tarNames(t, tars[0])[BenchDeleted] == nil {
		t.Error("layer 1 lacks the symlink target or the deleted file")
	}
}
