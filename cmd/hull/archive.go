package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/internal/fsutil"
)

func saveCmd() *command {
	return &command{
		name:    "save",
		args:    "IMAGE [IMAGE...]",
		short:   "Save one or more images to a tar archive (streamed to STDOUT by default)",
		minArgs: 1, maxArgs: -1,
		setup: func(fs *flags) action {
			var output string
			fs.String(&output, "o", "output", "string", "Write to a file, instead of STDOUT")
			return func(ctx context.Context, e *env, args []string) error {
				return saveImages(ctx, e, output, args)
			}
		},
	}
}

// saveImages writes the images refs name as one archive (docker save's
// and OCI layout at once, see hull.Runtime.Save) to stdout or to output.
func saveImages(ctx context.Context, e *env, output string, refs []string) error {
	if output == "" && e.stdoutTTY {
		return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	rt, err := e.runtime(ctx)
	if err != nil {
		return err
	}
	save := func(w io.Writer) error { return rt.Save(ctx, w, refs...) }
	if output == "" {
		return save(e.stdout)
	}
	return fsutil.WriteAtomic(output, 0o600, save, fsutil.Unnamed()) // 0600, as docker save -o
}

type loadOpts struct {
	input, platform string
	quiet           bool
}

func loadCmd() *command {
	return &command{
		name:  "load",
		short: "Load an image from a tar archive or STDIN",
		setup: func(fs *flags) action {
			var o loadOpts
			fs.String(&o.input, "i", "input", "string", "Read from tar archive file, instead of STDIN")
			fs.String(&o.platform, "", "platform", "os/arch[/variant]", "Load this platform of a multi-platform image (default: the host's)")
			fs.Bool(&o.quiet, "q", "quiet", "Suppress the load output (hull shows no progress: no effect)")
			return func(ctx context.Context, e *env, _ []string) error {
				return loadImages(ctx, e, o)
			}
		},
	}
}

// loadImages loads an archive (plain, gzip or zstd; docker save or OCI
// layout) and prints, as docker does, "Loaded image: NAME:TAG" per tag
// and "Loaded image ID: sha256:..." per untagged image.
func loadImages(ctx context.Context, e *env, o loadOpts) error {
	src := e.stdin
	if o.input == "" && e.stdinTTY {
		return errors.New("requested load from stdin, but stdin is empty")
	}
	if o.input != "" {
		f, err := os.Open(o.input)
		if err != nil {
			return err
		}
		defer f.Close()
		src = f
	}
	var opts []hull.ImageOption
	if o.platform != "" {
		opts = append(opts, hull.WithPlatform(o.platform))
	}
	rt, err := e.runtime(ctx)
	if err != nil {
		return err
	}
	imgs, err := rt.Load(ctx, src, opts...)
	if err != nil {
		return err
	}
	for _, img := range imgs {
		// The image's tags, including any it had here before: the
		// library does not say which the archive named.
		tags := img.RepoTags()
		if len(tags) == 0 {
			fmt.Fprintf(e.stdout, "Loaded image ID: %s\n", img.ID())
		}
		for _, t := range tags {
			fmt.Fprintf(e.stdout, "Loaded image: %s\n", t)
		}
	}
	return nil
}
