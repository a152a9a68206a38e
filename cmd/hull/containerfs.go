package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/internal/fsutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The container filesystem commands: diff, export, cp, commit. (`hull events` is not
// here: events are per process, and the CLI process would see only its own.)

func diffCmd() *command {
	return &command{
		name: "diff", args: "CONTAINER", minArgs: 1, maxArgs: 1,
		short: "Inspect changes to files or directories on a container's filesystem",
		setup: func(*flags) action {
			return func(ctx context.Context, e *env, args []string) error {
				c, err := lookupContainer(ctx, e, args[0])
				if err != nil {
					return err
				}
				changes, err := c.Diff(ctx)
				if err != nil {
					return err
				}
				for _, ch := range changes {
					fmt.Fprintf(e.stdout, "%s %s\n", ch.Kind, ch.Path)
				}
				return nil
			}
		},
	}
}

func exportCmd() *command {
	return &command{
		name: "export", args: "CONTAINER", minArgs: 1, maxArgs: 1,
		short: "Export a container's filesystem as a tar archive",
		setup: func(fs *flags) action {
			var output string
			fs.String(&output, "o", "output", "string", "Write to a file, instead of STDOUT")
			return func(ctx context.Context, e *env, args []string) error {
				if output == "" && e.stdoutTTY {
					return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
				}
				c, err := lookupContainer(ctx, e, args[0])
				if err != nil {
					return err
				}
				return writeOutput(e, output, func(w io.Writer) error { return c.Export(ctx, w) })
			}
		},
	}
}

// writeOutput runs write on stdout, or on the file output (replaced only
// when write succeeds, and never left half-written: fsutil.Unnamed).
func writeOutput(e *env, output string, write func(io.Writer) error) error {
	if output == "" {
		return write(e.stdout)
	}
	return fsutil.WriteAtomic(output, 0o600, write, fsutil.Unnamed())
}

func cpCmd() *command {
	return &command{
		name: "cp", args: "CONTAINER:SRC_PATH DEST_PATH|-  or  SRC_PATH|- CONTAINER:DEST_PATH",
		minArgs: 2, maxArgs: 2,
		short: "Copy files/folders between a container and the local filesystem",
		setup: func(fs *flags) action {
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				srcCtr, srcPath, srcIn := splitContainerPath(args[0])
				dstCtr, dstPath, dstIn := splitContainerPath(args[1])
				switch {
				case srcIn && !dstIn:
					return copyFromContainer(ctx, e, srcCtr, srcPath, args[1])
				case dstIn && !srcIn:
					return copyToContainer(ctx, e, args[0], dstCtr, dstPath)
				}
				return usageErrorf(path, "one of the paths, and only one, must be CONTAINER:PATH")
			}
		},
	}
}

// splitContainerPath splits "name:path"; a local path with a colon is written ./a:b.
func splitContainerPath(arg string) (ctr, p string, ok bool) {
	if strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") {
		return "", arg, false
	}
	ctr, p, ok = strings.Cut(arg, ":")
	return ctr, p, ok && ctr != ""
}

func copyFromContainer(ctx context.Context, e *env, name, src, dst string) error {
	c, err := lookupContainer(ctx, e, name)
	if err != nil {
		return err
	}
	if dst != "-" {
		return c.CopyToHost(ctx, src, dst)
	}
	rc, err := c.CopyFrom(ctx, src)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(e.stdout, rc)
	return err
}

func copyToContainer(ctx context.Context, e *env, src, name, dst string) error {
	c, err := lookupContainer(ctx, e, name)
	if err != nil {
		return err
	}
	if src == "-" {
		return c.CopyTo(ctx, dst, e.stdin)
	}
	return c.CopyFromHost(ctx, src, dst)
}

func commitCmd() *command {
	return &command{
		name: "commit", args: "CONTAINER [REPOSITORY[:TAG]]", minArgs: 1, maxArgs: 2,
		short: "Create a new image from a container's changes",
		setup: func(fs *flags) action {
			var changes []string
			var message, author string
			var pause bool
			fs.Strings(&changes, "c", "change", "list", "Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR)")
			fs.String(&message, "m", "message", "string", "Commit message")
			fs.String(&author, "a", "author", "string", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
			fs.Bool(&pause, "p", "pause", "Pause container during commit (default true)")
			pause = true // after Bool, which sets the default to false
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				opts, err := commitOptions(changes)
				if err != nil {
					return usageErrorf(path, "%v", err)
				}
				opts = append(opts, hull.WithCommitMessage(message), hull.WithCommitAuthor(author))
				if !pause {
					opts = append(opts, hull.WithCommitNoPause())
				}
				c, err := lookupContainer(ctx, e, args[0])
				if err != nil {
					return err
				}
				ref := ""
				if len(args) == 2 {
					ref = args[1]
				}
				img, err := c.Commit(ctx, ref, opts...)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, img.ID())
				return nil
			}
		},
	}
}

// commitOptions turns `--change` instructions into commit options, each parsed as
// `import --change` parses it.
func commitOptions(changes []string) ([]hull.CommitOption, error) {
	var opts []hull.CommitOption
	for _, ch := range changes {
		var cfg ocispec.ImageConfig
		if err := applyChange(&cfg, ch); err != nil {
			return nil, fmt.Errorf("--change %q: %w", ch, err)
		}
		instr, rest := strings.TrimSpace(ch), ""
		if i := strings.IndexFunc(instr, unicode.IsSpace); i >= 0 {
			instr, rest = instr[:i], strings.TrimSpace(instr[i:])
		}
		switch strings.ToUpper(instr) {
		case "CMD":
			opts = append(opts, hull.WithCommitCmd(cfg.Cmd...))
		case "ENTRYPOINT":
			opts = append(opts, hull.WithCommitEntrypoint(cfg.Entrypoint...))
		case "ENV":
			opts = append(opts, hull.WithCommitEnv(cfg.Env...))
		case "LABEL":
			opts = append(opts, hull.WithCommitLabels(cfg.Labels))
		case "WORKDIR":
			opts = append(opts, hull.WithCommitWorkdir(rest)) // relative to the image's
		case "USER":
			opts = append(opts, hull.WithCommitUser(cfg.User))
		case "EXPOSE":
			var ports []string
			for p := range cfg.ExposedPorts {
				ports = append(ports, p)
			}
			opts = append(opts, hull.WithCommitExposedPorts(ports...))
		default:
			return nil, fmt.Errorf("--change %q: %s is not supported by hull commit", ch, strings.ToUpper(instr))
		}
	}
	return opts, nil
}

// lookupContainer finds a container by name, ID or unique ID prefix.
func lookupContainer(ctx context.Context, e *env, name string) (*hull.Container, error) {
	rt, err := e.runtime(ctx)
	if err != nil {
		return nil, err
	}
	return rt.Container(ctx, name)
}
