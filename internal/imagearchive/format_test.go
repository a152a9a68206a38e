package imagearchive

import (
	"archive/tar"
	"bytes"
	_ "crypto/sha512" // sha512 digests are valid, but not stored
	"errors"
	"io"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"a/./b/../c.json": "a/c.json",
		"./manifest.json": "manifest.json",
		"blobs/sha256/x":  "blobs/sha256/x",
	} {
		if got, err := CleanName(in); err != nil || got != want {
			t.Errorf("CleanName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "/etc/passwd", "..", "a/../../b", "a\x00b", strings.Repeat("a", 4097)} {
		if _, err := CleanName(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("CleanName(%.20q): %v, want ErrInvalid", in, err)
		}
	}
}

func TestBlobPath(t *testing.T) {
	d := digest.FromString("x")
	if got := BlobDigest(BlobPath(d)); got != d {
		t.Errorf("BlobDigest(BlobPath(%s)) = %s", d, got)
	}
	for _, name := range []string{"blobs/sha256/abc", "blobs/sha512/" + d.Encoded(), "manifest.json"} {
		if got := BlobDigest(name); got != "" {
			t.Errorf("BlobDigest(%q) = %s, want none", name, got)
		}
	}
}

func TestParseIndex(t *testing.T) {
	d := digest.FromString("m")
	for name, tc := range map[string]struct {
		data string
		want error
	}{
		"empty":    {`{"manifests":[]}`, ErrInvalid},
		"garbage":  {`{`, ErrInvalid},
		"sha512":   {`{"manifests":[{"digest":"` + digest.SHA512.FromString("m").String() + `","size":1}]}`, ErrUnsupported},
		"negative": {`{"manifests":[{"digest":"` + d.String() + `","size":-1}]}`, ErrInvalid},
	} {
		if _, err := ParseIndex([]byte(tc.data)); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), IndexFile) {
			t.Errorf("%s: %v, want %v naming %s", name, err, tc.want, IndexFile)
		}
	}
	descs, err := ParseIndex([]byte(`{"manifests":[{"digest":"` + d.String() + `","size":3}]}`))
	if err != nil || len(descs) != 1 || descs[0].Digest != d {
		t.Errorf("good index: %v, %v", descs, err)
	}
}

func TestParseDockerManifestTags(t *testing.T) {
	upper := func(s string) (string, error) {
		if s == "bad" {
			return "", errors.New("refused")
		}
		return strings.ToUpper(s), nil
	}
	imgs, err := ParseDockerManifest([]byte(`[{"Config":"./c.json","RepoTags":["a","A","b"],"Layers":["l/layer.tar"]}]`), upper)
	if err != nil || len(imgs) != 1 || imgs[0].Config != "c.json" || strings.Join(imgs[0].Tags, ",") != "A,B" {
		t.Fatalf("got %+v, %v", imgs, err)
	}
	if _, err := ParseDockerManifest([]byte(`[{"Config":"c","RepoTags":["bad"]}]`), upper); err == nil || !strings.Contains(err.Error(), ManifestFile) {
		t.Errorf("refused tag: %v", err)
	}
}

// TestWriteMetaDeterministic: the same images give the same bytes, with
// every name in both layouts.
func TestWriteMetaDeterministic(t *testing.T) {
	imgs := []SavedImage{{
		Manifest: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("m"), Size: 1},
		Config:   ocispec.Descriptor{Digest: digest.FromString("c")},
		Layers:   []ocispec.Descriptor{{Digest: digest.FromString("l")}},
		Names:    []SavedName{{Full: "docker.io/library/app:1", Tag: "1", Familiar: "app:1"}},
	}}
	write := func() []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := WriteMeta(tw, imgs); err != nil {
			t.Fatal(err)
		}
		tw.Close()
		return buf.Bytes()
	}
	a := write()
	if !bytes.Equal(a, write()) {
		t.Fatal("two writes differ")
	}
	tr := tar.NewReader(bytes.NewReader(a))
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		if hdr.Uid != 0 || hdr.ModTime.Unix() != 0 {
			t.Errorf("%s: uid %d, mtime %v", hdr.Name, hdr.Uid, hdr.ModTime)
		}
		body, _ := io.ReadAll(tr)
		if hdr.Name == ManifestFile && !strings.Contains(string(body), `"RepoTags":["app:1"]`) {
			t.Errorf("manifest.json: %s", body)
		}
		if hdr.Name == IndexFile && !strings.Contains(string(body), `"io.containerd.image.name":"docker.io/library/app:1"`) {
			t.Errorf("index.json: %s", body)
		}
	}
	if got := strings.Join(names, " "); got != "blobs/ blobs/sha256/ oci-layout index.json manifest.json" {
		t.Errorf("entries %s", got)
	}
}
