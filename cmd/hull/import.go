package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/hullbox/hull"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type importOpts struct {
	changes  []string
	message  string
	platform string
}

func importCmd() *command {
	return &command{
		name:    "import",
		args:    "file|- [REPOSITORY[:TAG]]",
		short:   "Import the contents from a tarball to create a filesystem image",
		minArgs: 1, maxArgs: 2,
		setup: func(fs *flags) action {
			var o importOpts
			fs.Strings(&o.changes, "c", "change", "list", "Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)")
			fs.String(&o.message, "m", "message", "string", "Set commit message for imported image")
			fs.String(&o.platform, "", "platform", "os/arch[/variant]", "Set platform (default: the host's)")
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				cfg, err := parseChanges(o.changes)
				if err != nil {
					return usageErrorf(path, "%v", err)
				}
				return importImage(ctx, e, cfg, o, args)
			}
		},
	}
}

// importImage imports a root filesystem tar (plain, gzip or zstd; "-" is
// stdin) and prints the new image's ID.
func importImage(ctx context.Context, e *env, cfg ocispec.ImageConfig, o importOpts, args []string) error {
	opts := []hull.ImageOption{hull.WithImportConfig(cfg)}
	if o.message != "" {
		opts = append(opts, hull.WithImportMessage(o.message))
	}
	if o.platform != "" {
		opts = append(opts, hull.WithPlatform(o.platform))
	}
	ref := ""
	if len(args) == 2 {
		ref = args[1]
	}
	var src io.Reader = e.stdin
	if args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		src = f
	}
	rt, err := e.runtime(ctx)
	if err != nil {
		return err
	}
	img, err := rt.Import(ctx, src, ref, opts...)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, img.ID())
	return nil
}
