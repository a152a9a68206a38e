package manifest

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ParsePlatform parses "os/arch" or "os/arch/variant".
func ParsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ocispec.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// HostPlatform is the platform images are chosen for by default.
func HostPlatform() ocispec.Platform {
	p := ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	switch runtime.GOARCH {
	case "arm64":
		p.Variant = "v8"
	case "arm":
		p.Variant = "v7"
	}
	return p
}

func platformMatches(want, have ocispec.Platform) bool {
	if want.OS != have.OS || want.Architecture != have.Architecture {
		return false
	}
	if want.Variant == "" || want.Variant == have.Variant {
		return true
	}
	// arm64 manifests often omit the (only) variant.
	return want.Architecture == "arm64" && want.Variant == "v8" && have.Variant == ""
}

// ChoosePlatform returns the entry of index data that serves platform
// want (HostPlatform if nil).
func ChoosePlatform(data []byte, want *ocispec.Platform) (ocispec.Descriptor, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: index: %v", ErrInvalid, err)
	}
	p := HostPlatform()
	if want != nil {
		p = *want
	}
	for _, d := range idx.Manifests {
		if d.Platform != nil && platformMatches(p, *d.Platform) {
			if err := d.Digest.Validate(); err != nil {
				return d, fmt.Errorf("%w: index entry digest %q: %v", ErrInvalid, d.Digest, err)
			}
			return d, nil
		}
	}
	name := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		name += "/" + p.Variant
	}
	return ocispec.Descriptor{}, fmt.Errorf("%w: no image for platform %s in the manifest list", ErrNoPlatform, name)
}
