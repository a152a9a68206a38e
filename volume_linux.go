package hull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/hullbox/hull/internal/archive"
	"github.com/hullbox/hull/internal/volumes"
)

// lockVolumes takes the root's volumes lock (an flock, so it holds across
// processes). Lock order: the containers lock first, then this one.
func (rt *Runtime) lockVolumes() (func(), error) { return rt.volumes().Lock() }

// lockContainersAndVolumes takes both locks, so that the volumes in use
// cannot change while a volume is removed.
func (rt *Runtime) lockContainersAndVolumes() (func(), error) {
	unlockC, err := rt.lockContainers()
	if err != nil {
		return nil, err
	}
	unlockV, err := rt.lockVolumes()
	if err != nil {
		unlockC()
		return nil, err
	}
	return func() { unlockV(); unlockC() }, nil
}

// claimVolumes runs in reserve, under the containers lock, before the
// container's state (which records its mounts) is written: it creates the
// container's anonymous volumes, checks that its named ones still exist,
// and that no Export of a volume it would write runs.
func (rt *Runtime) claimVolumes(st *containerState) error {
	if !hasVolumes(st.Mounts) {
		return nil
	}
	unlock, err := rt.lockVolumes()
	if err != nil {
		return err
	}
	defer unlock()
	for _, m := range st.Mounts {
		if m.Type != MountTypeVolume {
			continue
		}
		if m.Anonymous {
			meta := volumes.Meta{Name: m.Name, Anonymous: true, CreatedAt: time.Now().UTC()}
			if err := rt.volumes().Make(meta); err != nil {
				return fmt.Errorf("volume for %s: %w", m.Destination, err)
			}
			continue
		}
		if _, err := rt.readVolume(m.Name); err != nil {
			return err
		}
		if m.RW && rt.volumes().Exporting(m.Name) {
			return fmt.Errorf("%w: volume %s is being exported", ErrConflict, m.Name)
		}
	}
	return nil
}

// checkExports fails with ErrConflict if an Export runs on a volume that
// ms mounts read-write. Restarting a container calls it under the
// containers lock, as claimVolumes runs for a new one.
func (rt *Runtime) checkExports(ms []MountPoint) error {
	for _, m := range ms {
		if m.Type == MountTypeVolume && m.RW && rt.volumes().Exporting(m.Name) {
			return fmt.Errorf("%w: volume %s is being exported", ErrConflict, m.Name)
		}
	}
	return nil
}

func hasVolumes(ms []MountPoint) bool {
	for _, m := range ms {
		if m.Type == MountTypeVolume {
			return true
		}
	}
	return false
}

// removeAnonymousVolumes deletes the anonymous volumes among ms that no
// container uses any more: Remove with WithRemoveVolumes, and a failed
// Create.
func (rt *Runtime) removeAnonymousVolumes(ms []MountPoint) error {
	if !hasVolumes(ms) {
		return nil
	}
	unlock, err := rt.lockContainersAndVolumes()
	if err != nil {
		return err
	}
	defer unlock()
	users, err := rt.volumeUsers()
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range ms {
		if m.Type != MountTypeVolume || !m.Anonymous || len(users[m.Name]) > 0 {
			continue
		}
		if err := rt.volumes().Delete(m.Name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", m.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Export writes the volume's content to w as an uncompressed tar: the
// root directory as "./", then every entry relative to it, with owners,
// modes, nanosecond mtimes, xattrs (user.* and security.capability),
// symlinks, hardlinks and devices. Docker has no equivalent.
//
// For a consistent copy it refuses, with ErrConflict, a volume mounted
// read-write by a container that is created, running or paused (stop
// them, or use WithLiveExport), and while it runs, Create and Start (of
// an exited container) refuse containers that would mount the volume
// read-write.
func (v *Volume) Export(ctx context.Context, w io.Writer, opts ...ExportVolumeOption) error {
	rt, name := v.rt, v.meta.Name
	var cfg exportVolumeConfig
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return fmt.Errorf("export volume %s: %w", name, err)
		}
	}
	if err := rt.checkOpen(); err != nil {
		return err
	}
	release, err := rt.holdForExport(name, cfg.live)
	if err != nil {
		return fmt.Errorf("export volume %s: %w", name, err)
	}
	defer release()
	if err := archive.WriteDir(ctx, w, rt.volumes().Data(name)); err != nil {
		return fmt.Errorf("export volume %s: %w", name, err)
	}
	return nil
}

// holdForExport checks, under the containers and volumes locks, that the
// volume exists and no live container writes it, and marks it exported
// (volumes.Dir.HoldExport) for claimVolumes.
func (rt *Runtime) holdForExport(name string, live bool) (func(), error) {
	unlock, err := rt.lockContainersAndVolumes()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := rt.readVolume(name); err != nil {
		return nil, err
	}
	if !live {
		states, err := rt.readUnsettled(nil) // every live one is unsettled
		if err != nil {
			return nil, err
		}
		for _, st := range states {
			if st.Status == StatusExited || !st.alive() {
				continue
			}
			for _, m := range st.Mounts {
				if m.Type == MountTypeVolume && m.Name == name && m.RW {
					return nil, fmt.Errorf("%w: volume is mounted read-write by %s container %s: stop it first", ErrConflict, st.Status, shortContainerID(st.ID))
				}
			}
		}
	}
	return rt.volumes().HoldExport(name)
}

// ImportVolume creates a volume named name ("" for an anonymous one) from
// a tar stream such as Export writes (owners, modes, xattrs, times, links
// restored). A name in use fails with ErrConflict. Hostile or malformed
// archives (paths escaping the volume, links to outside it, whiteout
// entries, overlay xattrs) fail with ErrInvalidContent, and nothing is
// left behind: the content is unpacked beside the volumes and renamed
// into place only when complete.
func (rt *Runtime) ImportVolume(ctx context.Context, name string, r io.Reader, opts ...VolumeOption) (*Volume, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	var cfg volumeConfig
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("import volume: %w", err)
		}
	}
	meta := volumes.Meta{Name: name, Labels: cfg.labels}
	if name == "" {
		meta.Name, meta.Anonymous = newID(), true
	} else if err := checkVolumeName(name); err != nil {
		return nil, fmt.Errorf("import volume: %w", err)
	}
	if _, err := os.Lstat(rt.volumes().Path(meta.Name)); err == nil {
		return nil, fmt.Errorf("import volume %s: %w: a volume with that name exists", meta.Name, ErrConflict)
	}
	im, err := rt.volumes().StartImport()
	if err != nil {
		return nil, fmt.Errorf("import volume %s: %w", meta.Name, err)
	}
	defer im.Close()
	if err := archive.ApplyDir(ctx, im.Data(), r); err != nil {
		return nil, fmt.Errorf("import volume %s: %w", meta.Name, alsoIs(err, archive.ErrUnsafe, ErrInvalidContent))
	}
	meta.CreatedAt = time.Now().UTC()
	if err := im.Commit(meta); err != nil {
		return nil, fmt.Errorf("import volume %s: %w", meta.Name, alsoIs(err, fs.ErrExist, ErrConflict))
	}
	return &Volume{rt: rt, meta: meta}, nil
}
