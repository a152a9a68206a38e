package compose

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/hullbox/hull"
)

// buildOptions translates a service's build: to hull's build options,
// tagging the image imageRef (and build.tags).
func (p *Project) buildOptions(s types.ServiceConfig) (dir string, opts []hull.BuildOption, err error) {
	b := s.Build
	bad := func(field string) error { return p.unsupported(s.Name, "build."+field) }
	switch {
	case len(b.SSH) > 0:
		return "", nil, bad("ssh")
	case len(b.Secrets) > 0:
		return "", nil, bad("secrets")
	case len(b.AdditionalContexts) > 0:
		return "", nil, bad("additional_contexts")
	case len(b.ExtraHosts) > 0:
		return "", nil, bad("extra_hosts")
	case b.Isolation != "":
		return "", nil, bad("isolation")
	case b.ShmSize != 0:
		return "", nil, bad("shm_size")
	case len(b.Ulimits) > 0:
		return "", nil, bad("ulimits")
	case b.Privileged:
		return "", nil, bad("privileged")
	case len(b.Entitlements) > 0:
		return "", nil, bad("entitlements")
	case len(b.CacheTo) > 0:
		return "", nil, bad("cache_to")
	case len(b.Platforms) > 1:
		return "", nil, bad("platforms")
	}
	dir = b.Context
	if dir == "" {
		dir = p.p.WorkingDir
	}
	if strings.Contains(dir, "://") || strings.HasPrefix(dir, "git@") {
		return "", nil, p.unsupported(s.Name, "build.context (a remote context)")
	}
	opts = append(opts, hull.WithTags(append([]string{p.imageRef(s)}, b.Tags...)...))
	switch {
	case b.DockerfileInline != "":
		opts = append(opts, hull.WithDockerfileContent(strings.NewReader(b.DockerfileInline)))
	case b.Dockerfile != "":
		df := b.Dockerfile
		if !filepath.IsAbs(df) {
			df = filepath.Join(dir, df)
		}
		opts = append(opts, hull.WithDockerfile(df))
	}
	for _, k := range sortedKeys(b.Args) {
		if v := b.Args[k]; v != nil {
			opts = append(opts, hull.WithBuildArg(k, *v))
		}
	}
	if b.Target != "" {
		opts = append(opts, hull.WithTarget(b.Target))
	}
	if b.NoCache {
		opts = append(opts, hull.WithNoCache())
	}
	if b.Pull {
		opts = append(opts, hull.WithBuildPull())
	}
	if len(b.Labels) > 0 {
		opts = append(opts, hull.WithBuildLabels(b.Labels))
	}
	switch b.Network {
	case "":
	case "default", "bridge":
		opts = append(opts, hull.WithBuildNetwork(hull.NetworkModeBridge))
	case "host", "none":
		opts = append(opts, hull.WithBuildNetwork(hull.NetworkMode(b.Network)))
	default:
		return "", nil, bad("network")
	}
	if len(b.Platforms) == 1 {
		opts = append(opts, hull.WithBuildPlatform(b.Platforms[0]))
	}
	return dir, opts, nil
}

// build builds a service's image with hull's Build.
func (p *Project) build(ctx context.Context, rt *hull.Runtime, s types.ServiceConfig, o *options) error {
	dir, opts, err := p.buildOptions(s)
	if err != nil {
		return err
	}
	o.statusf("Image %s  Building", p.imageRef(s))
	if _, err := rt.Build(ctx, dir, opts...); err != nil {
		return &FieldError{File: p.file(), Service: s.Name, Field: "build", Err: err}
	}
	o.statusf("Image %s  Built", p.imageRef(s))
	return nil
}
