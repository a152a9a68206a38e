package hull

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hullbox/hull/internal/initproc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// MountType is the kind of a container's mount, as MountPoint.Type reports
// it (Docker's names).
type MountType string

// Mount types.
const (
	MountTypeVolume MountType = "volume"
	MountTypeBind   MountType = "bind"
	MountTypeTmpfs  MountType = "tmpfs"
)

// MountPoint is one mount of a container, as ContainerInspect.Mounts
// shows it (Docker's fields).
type MountPoint struct {
	Type        MountType `json:"Type"`             // MountTypeVolume, MountTypeBind or MountTypeTmpfs
	Name        string    `json:"Name,omitempty"`   // the volume's name
	Source      string    `json:"Source"`           // host path: the bind's source, the volume's _data; empty for tmpfs
	Destination string    `json:"Destination"`      // path in the container
	Driver      string    `json:"Driver,omitempty"` // volumes: "local"
	RW          bool      `json:"RW"`               // false when mounted read-only
	Propagation string    `json:"Propagation"`      // binds: "rprivate" unless Propagation says otherwise
	// Anonymous marks a volume made for this container (an image's VOLUME
	// or WithAnonymousVolume): Remove with WithRemoveVolumes deletes it.
	Anonymous bool `json:"Anonymous,omitempty"`
	NoCopy    bool `json:"NoCopy,omitempty"` // volumes: no copy-up
}

// MountOption configures one mount of WithVolume, WithAnonymousVolume or
// WithBind.
type MountOption func(*mountRequest) error

// WithReadOnly mounts read-only. Default: read-write.
func WithReadOnly() MountOption {
	return func(m *mountRequest) error { m.RW = false; return nil }
}

// WithPropagation sets a bind mount's propagation: "rprivate" (the default),
// "private", "rslave", "slave", "rshared" or "shared". The slave modes let
// mounts made later on the host under the source (when the source is on a
// shared mount) appear in the container. Unlike Docker, hull never lets a
// container's mounts reach the host: the shared modes act as the slave
// ones. Volumes refuse it, as Docker's.
func WithPropagation(mode string) MountOption {
	return func(m *mountRequest) error {
		switch mode {
		case "private", "rprivate", "shared", "rshared", "slave", "rslave":
		default:
			return fmt.Errorf("%w: propagation %q: want rprivate, private, rslave, slave, rshared or shared", ErrInvalidArgument, mode)
		}
		if m.Type != MountTypeBind {
			return fmt.Errorf("%w: propagation applies to bind mounts only", ErrInvalidArgument)
		}
		m.Propagation = mode
		return nil
	}
}

// WithNoCopy turns off copy-up for a volume: by default an empty volume is
// first filled with what the image has at the mount's path (files,
// owners, modes, xattrs), as Docker does. Binds never copy.
func WithNoCopy() MountOption {
	return func(m *mountRequest) error {
		if m.Type != MountTypeVolume {
			return fmt.Errorf("%w: nocopy applies to volumes only", ErrInvalidArgument)
		}
		m.NoCopy = true
		return nil
	}
}

// mountRequest is a mount asked for by a RunOption; vol is nil for
// binds and anonymous volumes.
type mountRequest struct {
	MountPoint
	vol    *Volume
	create bool // WithNamedVolume: created if missing
}

// WithVolume mounts vol at target (an absolute path in the container),
// read-write unless WithReadOnly. The path is resolved inside the container's
// root filesystem: a symlink there cannot send the mount outside it. An
// empty volume is first filled with the image's content at target (see
// WithNoCopy). A target at or inside /proc is refused (ErrInvalidArgument),
// as runc refuses it, but for the files lxcfs emulates (/proc/cpuinfo,
// /proc/meminfo, /proc/uptime ...) and, for WithBind, a procfs bound over
// /proc itself; this holds for binds, tmpfs and an image's VOLUME too.
// Default: no volumes but the image's VOLUME ones.
func WithVolume(vol *Volume, target string, opts ...MountOption) RunOption {
	return func(c *runConfig) error {
		if vol == nil {
			return fmt.Errorf("%w: nil volume for %s", ErrInvalidArgument, target)
		}
		m := MountPoint{Type: MountTypeVolume, Name: vol.Name(), Driver: "local"}
		return c.addMount(mountRequest{MountPoint: m, vol: vol}, target, opts)
	}
}

// WithNamedVolume mounts the volume called name at target, creating it
// at Create if it does not exist, as `docker run -v name:/path` does.
// Options and path rules are WithVolume's.
func WithNamedVolume(name, target string, opts ...MountOption) RunOption {
	return func(c *runConfig) error {
		if err := checkVolumeName(name); err != nil {
			return err
		}
		m := MountPoint{Type: MountTypeVolume, Name: name, Driver: "local"}
		return c.addMount(mountRequest{MountPoint: m, create: true}, target, opts)
	}
}

// WithAnonymousVolume mounts a new anonymous volume at target, as `docker
// run -v /path`. Remove with WithRemoveVolumes (or WithAutoRemove)
// deletes it with the container; otherwise PruneVolumes does once unused.
func WithAnonymousVolume(target string, opts ...MountOption) RunOption {
	return func(c *runConfig) error {
		m := MountPoint{Type: MountTypeVolume, Driver: "local", Anonymous: true}
		return c.addMount(mountRequest{MountPoint: m}, target, opts)
	}
}

// WithBind bind-mounts (recursively) the host path hostPath at target,
// like `docker run --mount type=bind`: hostPath must be absolute and
// exist, else ErrInvalidArgument. Options: WithReadOnly, WithPropagation (default
// rprivate). Targets under /proc: see WithVolume.
func WithBind(hostPath, target string, opts ...MountOption) RunOption {
	return func(c *runConfig) error {
		if !filepath.IsAbs(hostPath) {
			return fmt.Errorf("%w: bind source %q is not an absolute path", ErrInvalidArgument, hostPath)
		}
		if _, err := os.Stat(hostPath); err != nil {
			return fmt.Errorf("%w: bind source path does not exist: %s", ErrInvalidArgument, hostPath)
		}
		m := MountPoint{Type: MountTypeBind, Source: filepath.Clean(hostPath), Propagation: "rprivate"}
		return c.addMount(mountRequest{MountPoint: m}, target, opts)
	}
}

func (c *runConfig) addMount(r mountRequest, target string, opts []MountOption) error {
	if !path.IsAbs(target) || path.Clean(target) == "/" {
		return fmt.Errorf("%w: mount target %q: want an absolute path below /", ErrInvalidArgument, target)
	}
	r.Destination, r.RW = path.Clean(target), true
	for _, o := range opts {
		if err := o(&r); err != nil {
			return fmt.Errorf("mount %s: %w", target, err)
		}
	}
	c.mounts = append(c.mounts, r)
	return nil
}

// resolveMounts checks the requested mounts against each other and the
// tmpfs ones, names the anonymous volumes, and adds one for each of the
// image's VOLUME paths that no mount covers (Docker's rule).
func (rt *Runtime) resolveMounts(ctx context.Context, imageVolumes map[string]struct{}, rc *runConfig) error {
	seen := map[string]bool{}
	for p := range rc.opts.tmpfs {
		seen[path.Clean(p)] = true
	}
	for i := range rc.mounts {
		m := &rc.mounts[i]
		if seen[m.Destination] {
			return fmt.Errorf("%w: duplicate mount point %s", ErrInvalidArgument, m.Destination)
		}
		seen[m.Destination] = true
		if m.vol != nil && m.vol.rt.cfg.root != rt.cfg.root {
			return fmt.Errorf("%w: volume %s belongs to another root (%s)", ErrInvalidArgument, m.Name, m.vol.rt.cfg.root)
		}
		if m.create {
			if _, err := rt.CreateVolume(ctx, m.Name); err != nil {
				return err
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(imageVolumes)) {
		if !path.IsAbs(p) || path.Clean(p) == "/" || seen[path.Clean(p)] {
			continue
		}
		seen[path.Clean(p)] = true
		rc.mounts = append(rc.mounts, mountRequest{MountPoint: MountPoint{
			Type: MountTypeVolume, Destination: path.Clean(p), Driver: "local", RW: true, Anonymous: true,
		}})
	}
	for i := range rc.mounts {
		m := &rc.mounts[i]
		if m.Type != MountTypeVolume {
			continue
		}
		if m.Anonymous && m.Name == "" {
			m.Name = newID()
		}
		m.Source = rt.volumes().Data(m.Name)
	}
	return nil
}

// specMounts returns the bind mounts of the volumes and binds for the
// container's OCI spec.
func (c *runConfig) specMounts() []specs.Mount {
	var out []specs.Mount
	for _, m := range c.mounts {
		prop := m.Propagation
		if prop == "" {
			prop = "rprivate"
		}
		opts := []string{"rbind", prop}
		if !m.RW {
			opts = append(opts, "ro")
		}
		if m.Type == MountTypeVolume && !m.NoCopy {
			opts = append(opts, initproc.CopyUpOption) // the init fills an empty volume
		}
		out = append(out, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: opts})
	}
	return out
}

// mountPoints returns what the container's state records: its volumes and
// binds, then its tmpfs mounts, sorted by destination.
func (c *runConfig) mountPoints() []MountPoint {
	var out []MountPoint
	for _, m := range c.mounts {
		out = append(out, m.MountPoint)
	}
	for p, opts := range c.opts.tmpfs {
		ro := slices.Contains(strings.Split(opts, ","), "ro")
		out = append(out, MountPoint{Type: MountTypeTmpfs, Destination: path.Clean(p), RW: !ro})
	}
	slices.SortFunc(out, func(a, b MountPoint) int { return strings.Compare(a.Destination, b.Destination) })
	return out
}
