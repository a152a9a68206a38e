package imagearchive

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hullbox/hull/internal/manifest"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Plan is one image found in an archive, checked, ready to unpack.
type Plan struct {
	Manifest     digest.Digest
	MediaType    string
	Data         []byte        // manifest to store; nil when the archive holds it
	Index        digest.Digest // index the manifest was chosen from
	Config       ocispec.Image
	ConfigDigest digest.Digest
	Layers       []ocispec.Descriptor
	Chains       []digest.Digest // chain IDs of the layers
	Tags         []string        // normalised name:tag
}

// Tagger normalises the names an archive gives its images to the tags a
// load sets; package hull knows what a reference is.
type Tagger struct {
	// RepoTag normalises a RepoTags entry of manifest.json, refusing
	// what is not a tag.
	RepoTag func(string) (string, error)
	// EntryTag returns the tag an index.json entry's annotations name,
	// "" for none.
	EntryTag func(ocispec.Descriptor) (string, error)
}

// Plan reads the archive's layout and checks every image it names,
// choosing platform's image (manifest.HostPlatform if nil) from an
// index; tags normalises the names the layouts give. One image named by
// several entries is planned once, with every name.
func (s *Stage) Plan(platform *ocispec.Platform, tags Tagger) ([]*Plan, error) {
	var plans []*Plan
	var err error
	switch {
	case s.Meta(IndexFile) != nil:
		plans, err = s.planOCI(platform, tags)
	case s.Meta(ManifestFile) != nil:
		plans, err = s.planDocker(tags)
	default:
		return nil, fmt.Errorf("%w: not an image archive: neither %s nor %s found", ErrInvalid, IndexFile, ManifestFile)
	}
	if err != nil {
		return nil, err
	}
	// One image named by several entries is loaded once, with every name.
	var out []*Plan
	byDigest := map[digest.Digest]*Plan{}
	for _, p := range plans {
		if q := byDigest[p.Manifest]; q != nil {
			for _, t := range p.Tags {
				if !slices.Contains(q.Tags, t) {
					q.Tags = append(q.Tags, t)
				}
			}
			continue
		}
		byDigest[p.Manifest] = p
		out = append(out, p)
	}
	return out, nil
}

func (s *Stage) planOCI(platform *ocispec.Platform, tags Tagger) ([]*Plan, error) {
	if data := s.Meta(LayoutFile); data != nil {
		var l Layout
		if err := json.Unmarshal(data, &l); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, LayoutFile, err)
		}
		if l.Version != LayoutVersion {
			return nil, fmt.Errorf("%w: OCI layout version %q", ErrUnsupported, l.Version)
		}
	}
	descs, err := ParseIndex(s.Meta(IndexFile))
	if err != nil {
		return nil, err
	}
	var plans []*Plan
	for _, d := range descs {
		tag, err := tags.EntryTag(d)
		if err != nil {
			return nil, err
		}
		p, err := s.planDescriptor(d, platform, 0)
		if err != nil {
			return nil, err
		}
		if tag != "" {
			p.Tags = []string{tag}
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// planDescriptor checks the image an index entry points at, choosing the
// platform's from nested indexes.
func (s *Stage) planDescriptor(d ocispec.Descriptor, platform *ocispec.Platform, depth int) (*Plan, error) {
	f, err := s.Blob(d.Digest)
	if err != nil {
		return nil, err
	}
	if d.Size != f.Size {
		return nil, fmt.Errorf("%w: blob %s is %d bytes, its descriptor says %d", ErrInvalid, d.Digest, f.Size, d.Size)
	}
	data, err := s.ReadBlob(f, s.manifestLimit)
	if err != nil {
		return nil, err
	}
	mt := d.MediaType
	if mt == "" {
		mt = manifest.SniffMediaType(data)
	}
	if manifest.IsIndex(mt) {
		if depth >= MaxIndexDepth {
			return nil, fmt.Errorf("%w: indexes nested more than %d deep", ErrInvalid, MaxIndexDepth)
		}
		child, err := manifest.ChoosePlatform(data, platform)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", d.Digest, err)
		}
		p, err := s.planDescriptor(child, platform, depth+1)
		if err == nil && p.Index == "" {
			p.Index = d.Digest
		}
		return p, err
	}
	m, err := manifest.Parse(mt, data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	p := &Plan{Manifest: d.Digest, MediaType: mt, ConfigDigest: m.Config.Digest, Layers: m.Layers}
	cf, err := s.Blob(m.Config.Digest)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: config: %w", d.Digest, err)
	}
	if cf.Size != m.Config.Size {
		return nil, fmt.Errorf("%w: config %s is %d bytes, the manifest says %d", ErrInvalid, cf.Digest, cf.Size, m.Config.Size)
	}
	if p.Config, err = s.imageConfig(cf, len(m.Layers)); err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		lf, err := s.Blob(l.Digest)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: layer: %w", d.Digest, err)
		}
		if lf.Size != l.Size {
			return nil, fmt.Errorf("%w: layer %s is %d bytes, the manifest says %d", ErrInvalid, l.Digest, lf.Size, l.Size)
		}
	}
	p.Chains = manifest.ChainIDs(p.Config.RootFS.DiffIDs)
	return p, nil
}

// imageConfig reads and checks an image config for an image of n layers
// (manifest.ParseConfig).
func (s *Stage) imageConfig(f File, n int) (ocispec.Image, error) {
	data, err := s.ReadBlob(f, s.configLimit)
	if err != nil {
		return ocispec.Image{}, err
	}
	return manifest.ParseConfig(f.Digest, data, n)
}

func (s *Stage) planDocker(tags Tagger) ([]*Plan, error) {
	imgs, err := ParseDockerManifest(s.Meta(ManifestFile), tags.RepoTag)
	if err != nil {
		return nil, err
	}
	var plans []*Plan
	for i, img := range imgs {
		p, err := s.planDockerItem(img)
		if err != nil {
			return nil, fmt.Errorf("%s: image %d: %w", ManifestFile, i, err)
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// planDockerItem checks one image of a docker save archive and makes its
// manifest: Docker schema2 over the layer files as they are.
func (s *Stage) planDockerItem(it DockerImage) (*Plan, error) {
	cf, err := s.Lookup(it.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	p := &Plan{ConfigDigest: cf.Digest, Tags: it.Tags}
	if p.Config, err = s.imageConfig(cf, len(it.Layers)); err != nil {
		return nil, err
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: manifest.MediaTypeDockerManifest,
		Config:    ocispec.Descriptor{MediaType: manifest.MediaTypeDockerConfig, Digest: cf.Digest, Size: cf.Size},
		Layers:    []ocispec.Descriptor{},
	}
	var comps []string
	for _, name := range it.Layers {
		lf, err := s.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
		c, err := s.Compression(lf.Digest)
		if err != nil {
			return nil, err
		}
		comps = append(comps, c)
		m.Layers = append(m.Layers, ocispec.Descriptor{Digest: lf.Digest, Size: lf.Size})
	}
	types := manifest.DockerLayerTypes
	if slices.Contains(comps, "zstd") {
		// Docker schema2 has no zstd layer type: describe the image in OCI.
		m.MediaType, m.Config.MediaType = ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig
		types = manifest.OCILayerTypes
	}
	for i, c := range comps {
		m.Layers[i].MediaType = types[c]
	}
	if p.Data, err = json.Marshal(m); err != nil {
		return nil, err
	}
	p.Manifest, p.MediaType, p.Layers = digest.FromBytes(p.Data), m.MediaType, m.Layers
	p.Chains = manifest.ChainIDs(p.Config.RootFS.DiffIDs)
	return p, nil
}
