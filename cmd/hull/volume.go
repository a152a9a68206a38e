package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/internal/fsutil"
)

// The volume commands (hull volume create|ls|inspect|rm|prune|export|import)
// and the mount flags of run and create (-v, --mount, --tmpfs).

func volumeGroup() *command {
	return &command{
		name:  "volume",
		short: "Manage volumes",
		sub: []*command{
			volumeCreateCmd(), volumeLsCmd(), volumeInspectCmd(), volumeRmCmd(), volumePruneCmd(),
			volumeExportCmd(), volumeImportCmd(),
		},
	}
}

func volumeCreateCmd() *command {
	return &command{
		name: "create", args: "[VOLUME]", short: "Create a volume", maxArgs: 1,
		setup: func(fs *flags) action {
			var labels []string
			fs.Strings(&labels, "", "label", "list", "Set metadata for a volume")
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				opts, err := volumeLabelOptions(path, labels)
				if err != nil {
					return err
				}
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				name := ""
				if len(args) == 1 {
					name = args[0]
				}
				v, err := rt.CreateVolume(ctx, name, opts...)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, v.Name())
				return nil
			}
		},
	}
}

func volumeLabelOptions(path string, labels []string) ([]hull.VolumeOption, error) {
	if len(labels) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return nil, usageErrorf(path, "invalid label %q: want KEY=VALUE", l)
		}
		m[k] = v
	}
	return []hull.VolumeOption{hull.WithVolumeLabels(m)}, nil
}

func volumeLsCmd() *command {
	return &command{
		name: "ls", aliases: []string{"list"}, short: "List volumes",
		setup: func(fs *flags) action {
			var quiet bool
			fs.Bool(&quiet, "q", "quiet", "Only display volume names")
			return func(ctx context.Context, e *env, _ []string) error {
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				vols, err := rt.Volumes(ctx)
				if err != nil {
					return err
				}
				if quiet {
					for _, v := range vols {
						fmt.Fprintln(e.stdout, v.Name())
					}
					return nil
				}
				tw := newTable(e.stdout, 0, 8)
				fmt.Fprintln(tw, "DRIVER\tVOLUME NAME")
				for _, v := range vols {
					fmt.Fprintf(tw, "local\t%s\n", v.Name())
				}
				return tw.Flush()
			}
		},
	}
}

func volumeInspectCmd() *command {
	return inspectNamedCmd("volume", "volumes", "Format output using a Go template",
		func(ctx context.Context, rt *hull.Runtime, name string) (hull.VolumeInspect, error) {
			v, err := rt.Volume(ctx, name)
			if err != nil {
				return hull.VolumeInspect{}, err
			}
			return v.Inspect(ctx)
		})
}

func volumeRmCmd() *command {
	return &command{
		name: "rm", aliases: []string{"remove"}, args: "VOLUME [VOLUME...]", short: "Remove one or more volumes",
		minArgs: 1, maxArgs: -1,
		setup: func(fs *flags) action {
			var force bool
			fs.Bool(&force, "f", "force", "Do not fail when a volume does not exist")
			return func(ctx context.Context, e *env, args []string) error {
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				var errs []string
				for _, name := range args {
					v, err := rt.Volume(ctx, name)
					if err == nil {
						err = v.Remove(ctx)
					}
					switch {
					case err == nil:
						fmt.Fprintln(e.stdout, name)
					case force && errors.Is(err, hull.ErrNotFound):
					default:
						errs = append(errs, "hull: "+err.Error())
					}
				}
				return reportErrors(e, errs)
			}
		},
	}
}

func volumePruneCmd() *command {
	return &command{
		name: "prune", short: "Remove unused anonymous volumes (with --all, every unused volume)",
		setup: func(fs *flags) action {
			var force, all bool
			fs.Bool(&force, "f", "force", "Do not prompt for confirmation")
			fs.Bool(&all, "a", "all", "Remove all unused volumes, not just anonymous ones")
			return func(ctx context.Context, e *env, _ []string) error {
				warning := "WARNING! This will remove anonymous local volumes not used by at least one container."
				var opts []hull.PruneVolumesOption
				if all {
					warning = "WARNING! This will remove all local volumes not used by at least one container."
					opts = append(opts, hull.WithAllVolumes())
				}
				if !force && !confirm(e, warning) {
					return nil
				}
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				rep, err := rt.PruneVolumes(ctx, opts...)
				if len(rep.VolumesDeleted) > 0 {
					fmt.Fprintln(e.stdout, "Deleted Volumes:")
					for _, n := range rep.VolumesDeleted {
						fmt.Fprintln(e.stdout, n)
					}
					fmt.Fprintln(e.stdout)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "Total reclaimed space: %s\n", binarySize(rep.SpaceReclaimed))
				return nil
			}
		},
	}
}

func volumeExportCmd() *command {
	return &command{
		name: "export", args: "VOLUME", short: "Write a volume's content as a tar archive to STDOUT or a file",
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flags) action {
			var output string
			var live bool
			fs.String(&output, "o", "output", "string", "Write to a file, instead of STDOUT")
			fs.Bool(&live, "", "live", "Export even while a container may write the volume")
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) (retErr error) {
				if output == "" && e.stdoutTTY {
					return usageErrorf(path, "refusing to write the archive to a terminal: use -o or redirect")
				}
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				v, err := rt.Volume(ctx, args[0])
				if err != nil {
					return err
				}
				var opts []hull.ExportVolumeOption
				if live {
					opts = append(opts, hull.WithLiveExport())
				}
				if output == "" {
					return v.Export(ctx, e.stdout, opts...)
				}
				return fsutil.WriteAtomic(output, 0o644, func(w io.Writer) error { return v.Export(ctx, w, opts...) }, fsutil.Unnamed())
			}
		},
	}
}

func volumeImportCmd() *command {
	return &command{
		name: "import", args: "VOLUME", short: "Create a volume from a tar archive read from STDIN or a file",
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flags) action {
			var input string
			var labels []string
			fs.String(&input, "i", "input", "string", "Read from a tar archive file, instead of STDIN")
			fs.Strings(&labels, "", "label", "list", "Set metadata for the volume")
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				opts, err := volumeLabelOptions(path, labels)
				if err != nil {
					return err
				}
				r := e.stdin
				if input != "" {
					f, err := os.Open(input)
					if err != nil {
						return err
					}
					defer f.Close()
					r = f
				} else if e.stdinTTY {
					return usageErrorf(path, "refusing to read an archive from a terminal: use -i or redirect")
				}
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				v, err := rt.ImportVolume(ctx, args[0], r, opts...)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, v.Name())
				return nil
			}
		},
	}
}

// mountFlags are run's and create's -v, --mount and --tmpfs.
type mountFlags struct {
	volumes, mounts, tmpfs []string
}

func (f *mountFlags) register(fs *flags) {
	fs.Strings(&f.volumes, "v", "volume", "list", "Bind mount a volume (NAME:/path[:opts], /host/path:/path[:opts], or /path)")
	fs.Strings(&f.mounts, "", "mount", "mount", "Attach a filesystem mount to the container (type=volume|bind|tmpfs,source=,target=,readonly)")
	fs.Strings(&f.tmpfs, "", "tmpfs", "list", "Mount a tmpfs directory (/path[:opts])")
}

// options turns the flags into RunOptions.
func (f *mountFlags) options(path string) ([]hull.RunOption, error) {
	var opts []hull.RunOption
	for _, v := range f.volumes {
		o, err := volumeFlag(v)
		if err != nil {
			return nil, usageErrorf(path, "invalid argument %q for \"-v, --volume\" flag: %v", v, err)
		}
		opts = append(opts, o)
	}
	for _, m := range f.mounts {
		o, err := mountFlag(m)
		if err != nil {
			return nil, usageErrorf(path, "invalid argument %q for \"--mount\" flag: %v", m, err)
		}
		opts = append(opts, o)
	}
	for _, t := range f.tmpfs {
		dst, o, _ := strings.Cut(t, ":")
		opts = append(opts, hull.WithTmpfs(dst, o))
	}
	return opts, nil
}

// volumeFlag parses -v: "/path" (anonymous volume), "NAME:/path[:opts]"
// (named volume, created if missing) or "/host:/path[:opts]" (bind; a
// missing host directory is created, as docker -v does). opts: ro, rw,
// nocopy, and a propagation mode for binds; z and Z are ignored.
func volumeFlag(s string) (hull.RunOption, error) {
	parts := strings.Split(s, ":")
	if len(parts) == 1 {
		return hull.WithAnonymousVolume(parts[0]), nil
	}
	if len(parts) > 3 {
		return nil, errors.New("too many colons")
	}
	src, dst := parts[0], parts[1]
	bind := strings.HasPrefix(src, "/") || strings.HasPrefix(src, ".")
	var mopts []hull.MountOption
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "rw", "z", "Z", "":
			case "ro":
				mopts = append(mopts, hull.WithReadOnly())
			case "nocopy":
				if bind {
					return nil, errors.New("nocopy applies to volumes")
				}
				mopts = append(mopts, hull.WithNoCopy())
			case "private", "rprivate", "shared", "rshared", "slave", "rslave":
				if !bind {
					return nil, errors.New("propagation applies to bind mounts")
				}
				mopts = append(mopts, hull.WithPropagation(o))
			default:
				return nil, fmt.Errorf("invalid mode %q", o)
			}
		}
	}
	if !bind {
		return hull.WithNamedVolume(src, dst, mopts...), nil
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, err
		}
	}
	return hull.WithBind(abs, dst, mopts...), nil
}

// mountFlag parses --mount's comma-separated key=value list.
func mountFlag(s string) (hull.RunOption, error) {
	typ, src, dst, prop := "volume", "", "", ""
	var ro, nocopy bool
	var tmpfsOpts []string
	for _, kv := range strings.Split(s, ",") {
		k, v, hasValue := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "type":
			typ = v
		case "source", "src":
			src = v
		case "target", "destination", "dst":
			dst = v
		case "readonly", "ro", "volume-nocopy":
			b := !hasValue || v == "1" || v == "true"
			if !b && v != "0" && v != "false" {
				return nil, fmt.Errorf("invalid value for %s: %q", k, v)
			}
			if k == "volume-nocopy" {
				nocopy = b
			} else {
				ro = b
			}
		case "bind-propagation":
			prop = v
		case "tmpfs-size":
			tmpfsOpts = append(tmpfsOpts, "size="+v)
		case "tmpfs-mode":
			tmpfsOpts = append(tmpfsOpts, "mode="+v)
		default:
			return nil, fmt.Errorf("unexpected key %q", k)
		}
	}
	if dst == "" {
		return nil, errors.New("target is required")
	}
	var mopts []hull.MountOption
	if ro {
		mopts = append(mopts, hull.WithReadOnly())
	}
	if nocopy && typ != "volume" || prop != "" && typ != "bind" || len(tmpfsOpts) > 0 && typ != "tmpfs" {
		return nil, fmt.Errorf("an option does not apply to type=%s", typ)
	}
	switch typ {
	case "volume":
		if nocopy {
			mopts = append(mopts, hull.WithNoCopy())
		}
		if src == "" {
			return hull.WithAnonymousVolume(dst, mopts...), nil
		}
		return hull.WithNamedVolume(src, dst, mopts...), nil
	case "bind":
		if src == "" {
			return nil, errors.New("source is required for a bind mount")
		}
		if prop != "" {
			mopts = append(mopts, hull.WithPropagation(prop))
		}
		abs, err := filepath.Abs(src)
		if err != nil {
			return nil, err
		}
		return hull.WithBind(abs, dst, mopts...), nil
	case "tmpfs":
		if src != "" {
			return nil, errors.New("a tmpfs mount takes no source")
		}
		if ro {
			tmpfsOpts = append(tmpfsOpts, "ro")
		}
		return hull.WithTmpfs(dst, strings.Join(tmpfsOpts, ",")), nil
	}
	return nil, fmt.Errorf("unknown mount type %q", typ)
}
