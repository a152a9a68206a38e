package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/testutil"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

func TestPlainHTTPOnlyForLoopbackAndInsecure(t *testing.T) {
	t.Parallel()
	insecure := map[string]bool{"registry.lan:5000": true, "mirror.lan": true}
	tests := map[string]bool{
		"localhost":         true,
		"localhost:5000":    true,
		"127.0.0.1:5000":    true,
		"127.1.2.3":         true,
		"[::1]:5000":        true,
		"registry.lan:5000": true,
		"registry.lan:5001": false,
		"mirror.lan:443":    true, // host named without a port: every port
		"docker.io":         false,
		"ghcr.io":           false,
		"10.0.0.1:5000":     false,
		"localhost.evil.io": false,
	}
	for host, want := range tests {
		if got := PlainHTTP(host, insecure); got != want {
			t.Errorf("PlainHTTP(%q) = %v, want %v", host, got, want)
		}
	}
	if h := Host("docker.io"); h != "registry-1.docker.io" {
		t.Errorf("Host(docker.io) = %q", h)
	}
}

// client is a Client of the test registry r, with its credentials given
// as Static ones.
func client(r *testutil.Registry) *Client {
	return &Client{
		HTTP: &http.Client{}, UserAgent: "hull-test", Cache: auth.NewCache(),
		DockerConfig: "/nonexistent/config.json",
		Static: func(name string) (auth.Credential, bool) {
			return auth.Credential{Username: r.Username, Password: r.Password}, name == r.Host && r.Username != ""
		},
	}
}

// TestFetchVerifies: manifests and configs come back as stored, checked
// against the digest asked for; a wrong digest or a bound too small is
// ErrInvalidContent; the registry's own refusals stay its errors.
func TestFetchVerifies(t *testing.T) {
	t.Parallel()
	r := testutil.StartRegistry(t, testutil.WithBasicAuth("u", "p"))
	img := r.Push(t, "test/img:1", testutil.Image{Layers: []testutil.Layer{{Files: []testutil.File{{Name: "f", Body: []byte("x")}}}}})
	repo, err := client(r).Repository(r.Host, "test/img")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	desc, data, err := FetchManifest(ctx, repo, "1", "")
	if err != nil || !bytes.Equal(data, img.Manifest) || desc.Digest != img.ManifestDigest || desc.Size != int64(len(data)) {
		t.Fatalf("FetchManifest(1) = %+v, %d bytes, %v", desc, len(data), err)
	}
	if _, _, err := FetchManifest(ctx, repo, "1", digest.FromString("other")); !errors.Is(err, ErrInvalidContent) {
		t.Errorf("FetchManifest with a wrong digest: %v, want ErrInvalidContent", err)
	}
	if _, _, err := FetchManifest(ctx, repo, "2", ""); err == nil || errors.Is(err, ErrInvalidContent) {
		t.Errorf("FetchManifest of a missing tag: %v, want the registry's error", err)
	}
	cd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: img.ConfigDigest, Size: int64(len(img.Config))}
	if got, err := FetchSmallBlob(ctx, repo, cd, MaxConfigSize); err != nil || !bytes.Equal(got, img.Config) {
		t.Errorf("FetchSmallBlob(config) = %d bytes, %v", len(got), err)
	}
	if _, err := FetchSmallBlob(ctx, repo, cd, cd.Size-1); !errors.Is(err, ErrInvalidContent) {
		t.Errorf("FetchSmallBlob over its bound: %v, want ErrInvalidContent", err)
	}

	anon := client(r)
	anon.Static = nil
	repo, err = anon.Repository(r.Host, "test/img")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := FetchManifest(ctx, repo, "1", ""); err == nil {
		t.Error("FetchManifest without credentials succeeded")
	}
	if _, err := anon.Repository(r.Host, "Bad/Name"); err == nil {
		t.Error("Repository(Bad/Name) succeeded")
	}
}

// TestPushBlob: a blob is uploaded once, then found; mounted from a
// repository that has it; uploaded when the mount source lacks it.
func TestPushBlob(t *testing.T) {
	t.Parallel()
	r := testutil.StartRegistry(t)
	c := client(r)
	ctx := t.Context()
	data := []byte("a blob of the test")
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(data), Size: int64(len(data))}
	opens := 0
	open := func() (io.ReadCloser, error) {
		opens++
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	repo := func(path string) *remote.Repository {
		t.Helper()
		rp, err := c.Repository(r.Host, path)
		if err != nil {
			t.Fatal(err)
		}
		return rp
	}
	for _, tc := range []struct {
		repo, from string
		want       Outcome
		opens      int
	}{
		{"a/one", "", Pushed, 1},
		{"a/one", "", Existed, 1},
		{"a/two", "a/one", Mounted, 1},
		{"a/three", "a/none", Pushed, 2},
	} {
		got, err := PushBlob(ctx, repo(tc.repo), desc, tc.from, open)
		if err != nil || got != tc.want || opens != tc.opens {
			t.Errorf("PushBlob(%s from %q) = %v, %v after %d opens; want %v after %d", tc.repo, tc.from, got, err, opens, tc.want, tc.opens)
		}
	}
	failed := errors.New("cannot open")
	other := []byte("another blob")
	od := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(other), Size: int64(len(other))}
	if _, err := PushBlob(ctx, repo("a/one"), od, "", func() (io.ReadCloser, error) { return nil, failed }); !errors.Is(err, failed) {
		t.Errorf("PushBlob with a failing open: %v", err)
	}
}

// TestPushAllOrder: with one slot for big blobs, the big ones go largest
// first, and a small one does not wait behind them; an error is returned.
func TestPushAllOrder(t *testing.T) {
	t.Parallel()
	blob := func(name string, size int64) ocispec.Descriptor {
		return ocispec.Descriptor{Digest: digest.FromString(name), Size: size, Annotations: map[string]string{"n": name}}
	}
	blobs := []ocispec.Descriptor{blob("big1", SmallBlob), blob("small", 10), blob("big3", 3*SmallBlob), blob("big2", 2*SmallBlob)}
	var mu sync.Mutex
	var order []string
	smallDone := make(chan struct{})
	err := PushAll(context.Background(), blobs, 1, func(ctx context.Context, d ocispec.Descriptor) error {
		n := d.Annotations["n"]
		if n == "big3" {
			// The first big one holds the only big slot until the small
			// one is done: it must not be queued behind.
			select {
			case <-smallDone:
			case <-time.After(10 * time.Second):
				return errors.New("the small blob waited behind a big one")
			}
		}
		mu.Lock()
		order = append(order, n)
		mu.Unlock()
		if n == "small" {
			close(smallDone)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"small", "big3", "big2", "big1"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	boom := errors.New("boom")
	err = PushAll(context.Background(), blobs, 2, func(ctx context.Context, d ocispec.Descriptor) error {
		if d.Annotations["n"] == "big2" {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Errorf("PushAll = %v, want the push's error", err)
	}
}
