package manifest

import (
	"encoding/json"
	"errors"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestChainIDs(t *testing.T) {
	a, b := digest.FromString("a"), digest.FromString("b")
	got := ChainIDs([]digest.Digest{a, b})
	want := digest.FromString(a.String() + " " + b.String())
	if len(got) != 2 || got[0] != a || got[1] != want {
		t.Fatalf("ChainIDs = %v, want [%s %s]", got, a, want)
	}
}

func TestChoosePlatform(t *testing.T) {
	d := func(arch, variant string) ocispec.Descriptor {
		return ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageManifest,
			Digest:    digest.FromString(arch + variant),
			Platform:  &ocispec.Platform{OS: "linux", Architecture: arch, Variant: variant},
		}
	}
	idx, err := json.Marshal(ocispec.Index{Manifests: []ocispec.Descriptor{d("amd64", ""), d("arm64", ""), d("arm", "v6"), d("arm", "v7")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		want ocispec.Platform
		pick digest.Digest
	}{
		{ocispec.Platform{OS: "linux", Architecture: "amd64"}, digest.FromString("amd64")},
		{ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, digest.FromString("arm64")}, // variant omitted
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, digest.FromString("armv7")},
	} {
		got, err := ChoosePlatform(idx, &tc.want)
		if err != nil || got.Digest != tc.pick {
			t.Errorf("%+v: chose %s, %v; want %s", tc.want, got.Digest, err, tc.pick)
		}
	}
	if _, err := ChoosePlatform(idx, &ocispec.Platform{OS: "windows", Architecture: "amd64"}); !errors.Is(err, ErrNoPlatform) {
		t.Errorf("windows: %v, want ErrNoPlatform", err)
	}
	if _, err := ChoosePlatform([]byte("{"), nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("garbage: %v, want ErrInvalid", err)
	}
}

func TestParse(t *testing.T) {
	cfg := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("c"), Size: 1}
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerZstd, Digest: digest.FromString("l"), Size: 1}
	good, _ := json.Marshal(ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}})
	if _, err := Parse(ocispec.MediaTypeImageManifest, good); err != nil {
		t.Fatalf("good manifest: %v", err)
	}
	badLayer := layer
	badLayer.MediaType = "application/x-tar+lz4"
	odd, _ := json.Marshal(ocispec.Manifest{Config: cfg, Layers: []ocispec.Descriptor{badLayer}})
	for name, tc := range map[string]struct {
		mt   string
		data []byte
		want error
	}{
		"schema1":                  {mediaTypeDockerSchema1, good, ErrUnsupported},
		"type mismatch":            {MediaTypeDockerManifest, good, ErrInvalid},
		"not json":                 {ocispec.MediaTypeImageManifest, []byte("["), ErrInvalid},
		"unknown layer":            {ocispec.MediaTypeImageManifest, odd, ErrUnsupported},
		"an index, not a manifest": {ocispec.MediaTypeImageIndex, good, ErrUnsupported},
	} {
		if _, err := Parse(tc.mt, tc.data); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestSniffMediaType(t *testing.T) {
	for in, want := range map[string]string{
		`{"manifests":[]}`: ocispec.MediaTypeImageIndex,
		`{"layers":[]}`:    ocispec.MediaTypeImageManifest,
		`{"mediaType":"` + MediaTypeDockerManifestList + `"}`: MediaTypeDockerManifestList,
		`[`: "",
	} {
		if got := SniffMediaType([]byte(in)); got != want {
			t.Errorf("SniffMediaType(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestParsePlatform(t *testing.T) {
	for s, want := range map[string]ocispec.Platform{
		"linux/amd64":    {OS: "linux", Architecture: "amd64"},
		"linux/arm64/v8": {OS: "linux", Architecture: "arm64", Variant: "v8"},
	} {
		if got, err := ParsePlatform(s); err != nil || got.OS != want.OS || got.Architecture != want.Architecture || got.Variant != want.Variant {
			t.Errorf("ParsePlatform(%q) = %+v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "linux", "/amd64", "linux//", "a/b/c/d"} {
		if _, err := ParsePlatform(s); err == nil {
			t.Errorf("ParsePlatform(%q) succeeded", s)
		}
	}
}

// TestParseConfig: a config must be JSON with one valid diff ID per
// layer; every refusal wraps ErrInvalid.
func TestParseConfig(t *testing.T) {
	t.Parallel()
	id := digest.FromString("layer")
	d := digest.FromString("config")
	good := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + id.String() + `"]}}`
	img, err := ParseConfig(d, []byte(good), 1)
	if err != nil || len(img.RootFS.DiffIDs) != 1 || img.RootFS.DiffIDs[0] != id {
		t.Fatalf("ParseConfig = %+v, %v", img.RootFS, err)
	}
	for name, tc := range map[string]struct {
		data string
		n    int
	}{
		"not JSON":          {"{", 1},
		"too few diff IDs":  {good, 2},
		"too many diff IDs": {good, 0},
		"bad diff ID":       {`{"rootfs":{"type":"layers","diff_ids":["sha256:zz"]}}`, 1},
	} {
		if _, err := ParseConfig(d, []byte(tc.data), tc.n); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
