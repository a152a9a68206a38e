package hull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
	"github.com/hullbox/hull/internal/layers"
	"github.com/hullbox/hull/internal/manifest"
	"github.com/hullbox/hull/internal/snapshot"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The build cache is a directory of the store: one file per cache key
// (the hash of a step's parent state, instruction, arguments and copied
// content), holding the manifest digest of the image the step made. A
// file is written atomically and names content by its digest, so two
// processes writing the same key write the same thing. An entry whose
// image is gone (Prune removes untagged images, which step images are)
// is a miss.
func (rt *Runtime) buildCacheDir() string { return filepath.Join(rt.store.Root(), "buildcache") }

func (b *builder) cached(key string) *Image {
	data, err := os.ReadFile(filepath.Join(b.rt.buildCacheDir(), key))
	if err != nil {
		return nil
	}
	d, err := digest.Parse(strings.TrimSpace(string(data)))
	if err != nil {
		return nil
	}
	img, err := b.rt.imageByDigest(d)
	if err != nil {
		return nil
	}
	for _, c := range img.rec.ChainIDs { // a forced removal may have taken them
		if !b.rt.snaps.Exists(c) {
			return nil
		}
	}
	return img
}

// remember records key -> img; a failure only costs a later cache miss.
func (b *builder) remember(key string, img *Image) {
	dir := b.rt.buildCacheDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return
	}
	_ = fsutil.WriteFileAtomic(filepath.Join(dir, key), []byte(img.rec.Manifest.String()+"\n"), 0o600, fsutil.Unnamed())
}

// writeImage stores the image of st plus the layer added (nil: none, a
// new config only) with st's config, untagged, and returns it. The layer
// is the top of st's snapshots: its pending snapshot is committed here.
func (b *builder) writeImage(ctx context.Context, st *stageState, added *layers.Added) (*Image, error) {
	rt := b.rt
	conf := cloneConf(st.conf)
	now := time.Now().UTC()
	conf.Created = &now
	var parentLayers []ocispec.Descriptor
	var parentChains []digest.Digest
	var size int64
	mt, ct, lt := ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageLayer
	if st.img != nil {
		parentLayers, parentChains, size = st.img.manifest.Layers, st.img.rec.ChainIDs, st.img.rec.Size
		if st.img.rec.MediaType == manifest.MediaTypeDockerManifest {
			mt, ct, lt = manifest.MediaTypeDockerManifest, manifest.MediaTypeDockerConfig, manifest.MediaTypeDockerLayerTar
		}
	}
	if conf.OS == "" {
		conf.Platform = manifest.HostPlatform()
	}
	conf.RootFS.Type = "layers"
	chains := slices.Clone(parentChains)
	allLayers := slices.Clone(parentLayers)
	if added != nil {
		defer added.Pending.Abort()
		conf.RootFS.DiffIDs = append(slices.Clone(conf.RootFS.DiffIDs), added.DiffID)
		chains = manifest.ChainIDs(conf.RootFS.DiffIDs)
		if len(chains) != len(parentChains)+1 {
			return nil, fmt.Errorf("%w: image %s: chain IDs do not match its diff IDs", ErrInvalidContent, imageID(st.img))
		}
		meta := snapshot.Meta{ChainID: chains[len(chains)-1], DiffID: added.DiffID, Size: added.Result.Size}
		if len(parentChains) > 0 {
			meta.Parent = parentChains[len(parentChains)-1]
		}
		if err := added.Pending.Commit(meta); err != nil {
			return nil, err
		}
		allLayers = append(allLayers, ocispec.Descriptor{MediaType: lt, Digest: added.DiffID, Size: added.Size})
		size += added.Result.Size
		conf.History = append(slices.Clone(conf.History), ocispec.History{Created: &now, CreatedBy: st.pendingHistory, Comment: "buildkit.dockerfile.v0"})
	}
	cdata, err := json.Marshal(conf)
	if err != nil {
		return nil, err
	}
	rec, err := rt.store.WriteImageConfig(mt, ct, cdata, allLayers, chains, size)
	if err != nil {
		return nil, err
	}
	if err := rt.addImage(ctx, rec, "", ""); err != nil {
		return nil, err
	}
	return rt.imageByDigest(rec.Manifest)
}

// validSignal reports whether s names a signal as STOPSIGNAL takes it: a
// number, or a name with or without "SIG".
func validSignal(s string) error {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return errors.New("no such signal")
		}
		return nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if name == "" || strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-") != "" {
		return errors.New("no such signal")
	}
	return nil
}
