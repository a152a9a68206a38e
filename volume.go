package hull

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"strings"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
	"github.com/hullbox/hull/internal/volumes"
)

// Volume is a named directory in the Runtime's root (volumes/<name>/_data)
// that containers mount with WithVolume. It outlives the containers that
// use it; the caller removes it with Remove (or PruneVolumes).
type Volume struct {
	rt   *Runtime
	meta volumes.Meta
}

// VolumeInspect describes a volume, as `docker volume inspect`.
type VolumeInspect struct {
	Name       string            `json:"Name"`       // 64 hex digits for an anonymous one
	Driver     string            `json:"Driver"`     // always "local"
	Mountpoint string            `json:"Mountpoint"` // the host directory holding the volume's content
	CreatedAt  time.Time         `json:"CreatedAt"`  // when it was created or imported
	Labels     map[string]string `json:"Labels"`     // WithVolumeLabels
	Options    map[string]string `json:"Options"`    // driver options: always empty
	Scope      string            `json:"Scope"`      // always "local"
	// Anonymous reports a volume created without a name (by CreateVolume
	// with "", for an image's VOLUME, or by WithAnonymousVolume):
	// PruneVolumes removes it by default once unused.
	Anonymous bool `json:"Anonymous"`
}

// VolumeOption configures CreateVolume and ImportVolume.
type VolumeOption func(*volumeConfig) error

type volumeConfig struct {
	labels map[string]string
}

// WithVolumeLabels adds labels to a new volume. Default: none. Labels are
// ignored when CreateVolume returns an existing volume.
func WithVolumeLabels(labels map[string]string) VolumeOption {
	return func(c *volumeConfig) error {
		for k := range labels {
			if k == "" {
				return fmt.Errorf("%w: empty label key", ErrInvalidArgument)
			}
		}
		if c.labels == nil {
			c.labels = map[string]string{}
		}
		maps.Copy(c.labels, labels)
		return nil
	}
}

// ExportVolumeOption configures Volume.Export.
type ExportVolumeOption func(*exportVolumeConfig) error

type exportVolumeConfig struct{ live bool }

// WithLiveExport exports even while containers that may write the volume
// exist: the tar is then not a consistent copy (a file changing size while
// read fails the export). Default: refuse with ErrConflict.
func WithLiveExport() ExportVolumeOption {
	return func(c *exportVolumeConfig) error { c.live = true; return nil }
}

// Name returns the volume's name.
func (v *Volume) Name() string { return v.meta.Name }

// Mountpoint returns the host directory that holds the volume's content.
func (v *Volume) Mountpoint() string { return v.rt.volumes().Data(v.meta.Name) }

// Inspect describes the volume, read again from the root. It fails with
// ErrNotFound if the volume has been removed.
func (v *Volume) Inspect(ctx context.Context) (VolumeInspect, error) {
	if err := ctx.Err(); err != nil {
		return VolumeInspect{}, fmt.Errorf("inspect volume %s: %w", v.meta.Name, err)
	}
	meta, err := v.rt.readVolume(v.meta.Name)
	if err != nil {
		return VolumeInspect{}, fmt.Errorf("inspect volume %s: %w", v.meta.Name, err)
	}
	return VolumeInspect{
		Name: meta.Name, Driver: "local", Mountpoint: v.Mountpoint(),
		CreatedAt: meta.CreatedAt, Labels: cloneLabels(meta.Labels),
		Options: map[string]string{}, Scope: "local", Anonymous: meta.Anonymous,
	}, nil
}

// CreateVolume creates a volume. An empty name creates an anonymous volume
// with a random 64-hex-digit name, as Docker does. As `docker volume
// create`, an existing name returns that volume unchanged. Names follow
// Docker: [a-zA-Z0-9][a-zA-Z0-9_.-]+; others fail with ErrInvalidArgument.
func (rt *Runtime) CreateVolume(ctx context.Context, name string, opts ...VolumeOption) (*Volume, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	var cfg volumeConfig
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("create volume: %w", err)
		}
	}
	meta := volumes.Meta{Name: name, Labels: cfg.labels, CreatedAt: time.Now().UTC()}
	if name == "" {
		meta.Name, meta.Anonymous = newID(), true
	} else if err := checkVolumeName(name); err != nil {
		return nil, fmt.Errorf("create volume: %w", err)
	}
	unlock, err := rt.lockVolumes()
	if err != nil {
		return nil, fmt.Errorf("create volume %s: %w", meta.Name, err)
	}
	defer unlock()
	if old, err := rt.readVolume(meta.Name); err == nil {
		return &Volume{rt: rt, meta: old}, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("create volume %s: %w", meta.Name, err)
	}
	if err := rt.volumes().Make(meta); err != nil {
		return nil, fmt.Errorf("create volume %s: %w", meta.Name, err)
	}
	return &Volume{rt: rt, meta: meta}, nil
}

// Volume returns the volume named name, or an error wrapping ErrNotFound.
func (rt *Runtime) Volume(ctx context.Context, name string) (*Volume, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	if err := checkVolumeName(name); err != nil {
		return nil, fmt.Errorf("volume %q: %w", name, ErrNotFound)
	}
	meta, err := rt.readVolume(name)
	if err != nil {
		return nil, fmt.Errorf("volume %s: %w", name, err)
	}
	return &Volume{rt: rt, meta: meta}, nil
}

// Volumes lists the volumes in the root, sorted by name.
func (rt *Runtime) Volumes(ctx context.Context) ([]*Volume, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	names, err := rt.volumes().Names()
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	var out []*Volume
	for _, name := range names {
		meta, err := rt.readVolume(name)
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("list volumes: %w", err)
		}
		out = append(out, &Volume{rt: rt, meta: meta})
	}
	return out, nil
}

// Remove deletes the volume and its content. It fails with ErrConflict
// while any container (running or not, made by any process on the root)
// uses it, as Docker; remove those containers first.
func (v *Volume) Remove(ctx context.Context) error {
	if err := v.rt.checkOpen(); err != nil {
		return err
	}
	unlock, err := v.rt.lockContainersAndVolumes()
	if err != nil {
		return fmt.Errorf("remove volume %s: %w", v.meta.Name, err)
	}
	defer unlock()
	if _, err := v.rt.readVolume(v.meta.Name); err != nil {
		return fmt.Errorf("remove volume %s: %w", v.meta.Name, err)
	}
	users, err := v.rt.volumeUsers()
	if err != nil {
		return fmt.Errorf("remove volume %s: %w", v.meta.Name, err)
	}
	if ids := users[v.meta.Name]; len(ids) > 0 {
		return fmt.Errorf("remove volume %s: %w: volume is in use by container %s", v.meta.Name, ErrConflict, strings.Join(ids, ", "))
	}
	if err := v.rt.volumes().Delete(v.meta.Name); err != nil {
		return fmt.Errorf("remove volume %s: %w", v.meta.Name, err)
	}
	return nil
}

// PruneVolumesOption configures PruneVolumes.
type PruneVolumesOption func(*pruneVolumesConfig) error

type pruneVolumesConfig struct{ all bool }

// WithAllVolumes makes PruneVolumes remove every unused volume, named ones
// too, like `docker volume prune --all`. Default: only anonymous ones.
func WithAllVolumes() PruneVolumesOption {
	return func(c *pruneVolumesConfig) error { c.all = true; return nil }
}

// VolumePruneReport is what PruneVolumes removed.
type VolumePruneReport struct {
	VolumesDeleted []string // names, sorted
	SpaceReclaimed int64    // bytes of file content freed (apparent size)
}

// PruneVolumes removes the anonymous volumes that no container uses (with
// WithAllVolumes, every unused volume), and what a crashed process left
// half-created or half-removed.
func (rt *Runtime) PruneVolumes(ctx context.Context, opts ...PruneVolumesOption) (VolumePruneReport, error) {
	var rep VolumePruneReport
	var cfg pruneVolumesConfig
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return rep, fmt.Errorf("prune volumes: %w", err)
		}
	}
	vols, err := rt.Volumes(ctx)
	if err != nil {
		return rep, err
	}
	unlock, err := rt.lockContainersAndVolumes()
	if err != nil {
		return rep, fmt.Errorf("prune volumes: %w", err)
	}
	defer unlock()
	rep.SpaceReclaimed += rt.volumes().RemoveStale() // what dead processes left
	users, err := rt.volumeUsers()
	if err != nil {
		return rep, fmt.Errorf("prune volumes: %w", err)
	}
	var errs []error
	for _, v := range vols {
		if len(users[v.meta.Name]) > 0 || !cfg.all && !v.meta.Anonymous {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		size := fsutil.DirSize(v.Mountpoint())
		if err := rt.volumes().Delete(v.meta.Name); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("prune volume %s: %w", v.meta.Name, err))
			}
			continue
		}
		rep.VolumesDeleted = append(rep.VolumesDeleted, v.meta.Name)
		rep.SpaceReclaimed += size
	}
	return rep, errors.Join(errs...)
}

// volumeUsers maps each volume name to the IDs (short) of the containers
// whose state records it, whatever their status. The containers lock is
// held, so no Create can add a user meanwhile.
func (rt *Runtime) volumeUsers() (map[string][]string, error) {
	states, _, err := rt.readStates(true)
	if err != nil {
		return nil, err
	}
	users := map[string][]string{}
	for _, st := range states {
		for _, m := range st.Mounts {
			if m.Type == MountTypeVolume {
				users[m.Name] = append(users[m.Name], shortContainerID(st.ID))
			}
		}
	}
	return users, nil
}

// volumes is the root's volumes directory (internal/volumes).
func (rt *Runtime) volumes() volumes.Dir { return volumes.Dir(filepath.Join(rt.cfg.root, "volumes")) }

// readVolume reads a volume's metadata; ErrNotFound if it has none.
func (rt *Runtime) readVolume(name string) (volumes.Meta, error) {
	meta, err := rt.volumes().Read(name)
	if errors.Is(err, fs.ErrNotExist) {
		return meta, fmt.Errorf("volume %s: %w", name, ErrNotFound)
	}
	return meta, err
}

// checkVolumeName is volumes.CheckName, its refusal ErrInvalidArgument.
func checkVolumeName(name string) error {
	return alsoIs(volumes.CheckName(name), volumes.ErrInvalidName, ErrInvalidArgument)
}
