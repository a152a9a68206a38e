package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/hullbox/hull"
)

type buildOpts struct {
	tags, buildArgs, labels []string
	file, target, network   string
	platform                string
	noCache, pull, quiet    bool
}

func buildCmd() *command {
	return &command{
		name:    "build",
		args:    "PATH",
		short:   "Build an image from a Dockerfile",
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flags) action {
			var o buildOpts
			fs.Strings(&o.tags, "t", "tag", "list", "Name and optionally a tag in the 'name:tag' format")
			fs.String(&o.file, "f", "file", "string", "Name of the Dockerfile (default: PATH/Dockerfile; - reads stdin)")
			fs.Strings(&o.buildArgs, "", "build-arg", "list", "Set build-time variables")
			fs.Strings(&o.labels, "", "label", "list", "Set metadata for an image")
			fs.String(&o.target, "", "target", "string", "Set the target build stage to build")
			fs.String(&o.network, "", "network", "string", "Networking mode for the RUN instructions: none (default), host or bridge")
			fs.String(&o.platform, "", "platform", "string", "Set platform (only the host's is supported)")
			fs.Bool(&o.noCache, "", "no-cache", "Do not use cache when building the image")
			fs.Bool(&o.pull, "", "pull", "Always attempt to pull a newer version of the image")
			fs.Bool(&o.quiet, "q", "quiet", "Suppress the build output and print image ID on success")
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				opts, err := o.options(e)
				if err != nil {
					return usageErrorf(path, "%v", err)
				}
				return build(ctx, e, o, args[0], opts)
			}
		},
	}
}

func (o *buildOpts) options(e *env) ([]hull.BuildOption, error) {
	var opts []hull.BuildOption
	switch o.file {
	case "":
	case "-":
		opts = append(opts, hull.WithDockerfileContent(e.stdin))
	default:
		opts = append(opts, hull.WithDockerfile(o.file))
	}
	if len(o.tags) > 0 {
		opts = append(opts, hull.WithTags(o.tags...))
	}
	for _, a := range o.buildArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok { // as docker: the value from the environment, if set there
			if v, ok = os.LookupEnv(k); !ok {
				continue
			}
		}
		opts = append(opts, hull.WithBuildArg(k, v))
	}
	if len(o.labels) > 0 {
		labels := map[string]string{}
		for _, l := range o.labels {
			k, v, _ := strings.Cut(l, "=")
			labels[k] = v
		}
		opts = append(opts, hull.WithBuildLabels(labels))
	}
	if o.target != "" {
		opts = append(opts, hull.WithTarget(o.target))
	}
	if o.network != "" && o.network != "default" {
		opts = append(opts, hull.WithBuildNetwork(hull.NetworkMode(o.network)))
	}
	if o.platform != "" {
		opts = append(opts, hull.WithBuildPlatform(o.platform))
	}
	if o.noCache {
		opts = append(opts, hull.WithNoCache())
	}
	if o.pull {
		opts = append(opts, hull.WithBuildPull())
	}
	return opts, nil
}

// build runs the build and prints Docker's legacy builder output: a line
// per step, whether it came from the cache, what RUN printed, then the
// image ID and the tags; with -q only the image ID.
func build(ctx context.Context, e *env, o buildOpts, dir string, opts []hull.BuildOption) error {
	rt, err := e.runtime(ctx)
	if err != nil {
		return err
	}
	if !o.quiet {
		shown := map[int]bool{}
		opts = append(opts, hull.WithBuildProgress(func(ev hull.BuildEvent) {
			if ev.Kind == hull.BuildNote {
				fmt.Fprintf(e.stderr, "[WARNING]: %s\n", ev.Line)
				return
			}
			if !shown[ev.Step] {
				shown[ev.Step] = true
				fmt.Fprintf(e.stdout, "Step %d/%d : %s\n", ev.Step, ev.Steps, ev.Instruction)
			}
			switch ev.Kind {
			case hull.BuildStepCached:
				fmt.Fprintf(e.stdout, " ---> Using cache\n ---> %s\n", shortImageID(ev.ImageID))
			case hull.BuildStepOutput:
				fmt.Fprintln(e.stdout, ev.Line)
			case hull.BuildStepDone:
				if ev.ImageID != "" {
					fmt.Fprintf(e.stdout, " ---> %s\n", shortImageID(ev.ImageID))
				}
			}
		}))
	}
	img, err := rt.Build(ctx, dir, opts...)
	if err != nil {
		return err
	}
	if o.quiet {
		fmt.Fprintln(e.stdout, img.ID())
		return nil
	}
	fmt.Fprintf(e.stdout, "Successfully built %s\n", shortImageID(img.ID()))
	for _, t := range o.tags {
		if !strings.Contains(t[strings.LastIndex(t, "/")+1:], ":") {
			t += ":latest"
		}
		fmt.Fprintf(e.stdout, "Successfully tagged %s\n", t)
	}
	return nil
}

func shortImageID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}
