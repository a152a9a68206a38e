package hull

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hullbox/hull/internal/imagearchive"
	"github.com/hullbox/hull/internal/manifest"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// loadPlan is one image found in an archive, checked, ready to unpack.
type loadPlan struct {
	manifest  digest.Digest
	mediaType string
	data      []byte        // manifest to store; nil when the archive holds it
	index     digest.Digest // index the manifest was chosen from
	config    ocispec.Image
	configD   digest.Digest
	layers    []ocispec.Descriptor
	chains    []digest.Digest
	tags      []string // normalised name:tag
	size      int64
}

// archiveStage is an image archive staged into the content store
// (imagearchive.Stage), and what Load plans from it.
type archiveStage struct {
	*imagearchive.Stage
}

// plan reads the archive's layout and checks every image it names.
func (s *archiveStage) plan(cfg *imageConfig) ([]*loadPlan, error) {
	var plans []*loadPlan
	var err error
	switch {
	case s.Meta(imagearchive.IndexFile) != nil:
		plans, err = s.planOCI(cfg)
	case s.Meta(imagearchive.ManifestFile) != nil:
		plans, err = s.planDocker()
	default:
		return nil, fmt.Errorf("%w: not an image archive: neither %s nor %s found", ErrInvalidContent, imagearchive.IndexFile, imagearchive.ManifestFile)
	}
	if err != nil {
		return nil, err
	}
	// One image named by several entries is loaded once, with every name.
	var out []*loadPlan
	byDigest := map[digest.Digest]*loadPlan{}
	for _, p := range plans {
		if q := byDigest[p.manifest]; q != nil {
			for _, t := range p.tags {
				if !slices.Contains(q.tags, t) {
					q.tags = append(q.tags, t)
				}
			}
			continue
		}
		byDigest[p.manifest] = p
		out = append(out, p)
	}
	return out, nil
}

func (s *archiveStage) planOCI(cfg *imageConfig) ([]*loadPlan, error) {
	if data := s.Meta(imagearchive.LayoutFile); data != nil {
		var l imagearchive.Layout
		if err := json.Unmarshal(data, &l); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalidContent, imagearchive.LayoutFile, err)
		}
		if l.Version != imagearchive.LayoutVersion {
			return nil, fmt.Errorf("%w: OCI layout version %q", ErrUnsupported, l.Version)
		}
	}
	entries, err := parseOCIIndex(s.Meta(imagearchive.IndexFile))
	if err != nil {
		return nil, err
	}
	var plans []*loadPlan
	for _, e := range entries {
		p, err := s.planDescriptor(e.desc, cfg.platform, 0)
		if err != nil {
			return nil, err
		}
		if e.tag != "" {
			p.tags = []string{e.tag}
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// planDescriptor checks the image an index entry points at, choosing the
// platform's from nested indexes.
func (s *archiveStage) planDescriptor(d ocispec.Descriptor, platform *ocispec.Platform, depth int) (*loadPlan, error) {
	f, err := s.Blob(d.Digest)
	if err != nil {
		return nil, err
	}
	if d.Size != f.Size {
		return nil, fmt.Errorf("%w: blob %s is %d bytes, its descriptor says %d", ErrInvalidContent, d.Digest, f.Size, d.Size)
	}
	data, err := s.ReadBlob(f, maxManifestSize)
	if err != nil {
		return nil, err
	}
	mt := d.MediaType
	if mt == "" {
		mt = manifest.SniffMediaType(data)
	}
	if manifest.IsIndex(mt) {
		if depth >= imagearchive.MaxIndexDepth {
			return nil, fmt.Errorf("%w: indexes nested more than %d deep", ErrInvalidContent, imagearchive.MaxIndexDepth)
		}
		child, err := manifest.ChoosePlatform(data, platform)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", d.Digest, manifestErr(err))
		}
		p, err := s.planDescriptor(child, platform, depth+1)
		if err == nil && p.index == "" {
			p.index = d.Digest
		}
		return p, err
	}
	m, err := manifest.Parse(mt, data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, manifestErr(err))
	}
	p := &loadPlan{manifest: d.Digest, mediaType: mt, configD: m.Config.Digest, layers: m.Layers}
	cf, err := s.Blob(m.Config.Digest)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: config: %w", d.Digest, err)
	}
	if cf.Size != m.Config.Size {
		return nil, fmt.Errorf("%w: config %s is %d bytes, the manifest says %d", ErrInvalidContent, cf.Digest, cf.Size, m.Config.Size)
	}
	if p.config, err = s.imageConfig(cf, len(m.Layers)); err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		lf, err := s.Blob(l.Digest)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: layer: %w", d.Digest, err)
		}
		if lf.Size != l.Size {
			return nil, fmt.Errorf("%w: layer %s is %d bytes, the manifest says %d", ErrInvalidContent, l.Digest, lf.Size, l.Size)
		}
	}
	p.chains = manifest.ChainIDs(p.config.RootFS.DiffIDs)
	return p, nil
}

// imageConfig reads and checks an image config for an image of n layers.
func (s *archiveStage) imageConfig(f imagearchive.File, n int) (ocispec.Image, error) {
	var img ocispec.Image
	data, err := s.ReadBlob(f, maxConfigSize)
	if err != nil {
		return img, err
	}
	if err := json.Unmarshal(data, &img); err != nil {
		return img, fmt.Errorf("%w: config %s: %v", ErrInvalidContent, f.Digest, err)
	}
	if len(img.RootFS.DiffIDs) != n {
		return img, fmt.Errorf("%w: config %s lists %d layers, the image has %d", ErrInvalidContent, f.Digest, len(img.RootFS.DiffIDs), n)
	}
	for _, d := range img.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return img, fmt.Errorf("%w: config %s: diff ID %q: %v", ErrInvalidContent, f.Digest, d, err)
		}
	}
	return img, nil
}

func (s *archiveStage) planDocker() ([]*loadPlan, error) {
	imgs, err := parseDockerManifest(s.Meta(imagearchive.ManifestFile))
	if err != nil {
		return nil, err
	}
	var plans []*loadPlan
	for i, img := range imgs {
		p, err := s.planDockerItem(img)
		if err != nil {
			return nil, fmt.Errorf("%s: image %d: %w", imagearchive.ManifestFile, i, err)
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// planDockerItem checks one image of a docker save archive and makes its
// manifest: Docker schema2 over the layer files as they are.
func (s *archiveStage) planDockerItem(it imagearchive.DockerImage) (*loadPlan, error) {
	cf, err := s.Lookup(it.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	p := &loadPlan{configD: cf.Digest, tags: it.Tags}
	if p.config, err = s.imageConfig(cf, len(it.Layers)); err != nil {
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
	if p.data, err = json.Marshal(m); err != nil {
		return nil, err
	}
	p.manifest, p.mediaType, p.layers = digest.FromBytes(p.data), m.MediaType, m.Layers
	p.chains = manifest.ChainIDs(p.config.RootFS.DiffIDs)
	return p, nil
}
