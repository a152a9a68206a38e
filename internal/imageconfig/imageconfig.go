// Package imageconfig derives new image configurations from old ones, as
// `docker commit` does: the run configuration a container recorded over
// its image's (Run), then the `--change` instructions (Change). Both are
// pure: the base is never modified.
package imageconfig

import (
	"maps"
	"path"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Change is a set of Dockerfile-like instructions, each replacing or
// adding to the base configuration's. The zero Change changes nothing.
type Change struct {
	Cmd, Entrypoint       []string
	CmdSet, EntrypointSet bool              // CMD, ENTRYPOINT given (even empty)
	Env                   []string          // ENV: "KEY=value", replacing the base's KEY
	Labels                map[string]string // LABEL, over the base's
	Workdir               string            // WORKDIR: a relative one is joined to the base's
	User                  *string           // USER
	Ports                 []string          // EXPOSE: "80/tcp"
}

// Apply returns base changed by c. An ENTRYPOINT without CMD clears the
// base's Cmd, as a Dockerfile's does.
func (c *Change) Apply(base ocispec.ImageConfig) ocispec.ImageConfig {
	out := base
	out.Env = slices.Clone(base.Env)
	for _, kv := range c.Env {
		k, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(out.Env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		if i >= 0 {
			out.Env[i] = kv
		} else {
			out.Env = append(out.Env, kv)
		}
	}
	if c.EntrypointSet {
		out.Entrypoint = c.Entrypoint
		if !c.CmdSet {
			out.Cmd = nil
		}
	}
	if c.CmdSet {
		out.Cmd = c.Cmd
	}
	if len(c.Labels) > 0 {
		out.Labels = maps.Clone(base.Labels)
		if out.Labels == nil {
			out.Labels = map[string]string{}
		}
		maps.Copy(out.Labels, c.Labels)
	}
	if c.Workdir != "" {
		if path.IsAbs(c.Workdir) {
			out.WorkingDir = path.Clean(c.Workdir)
		} else {
			out.WorkingDir = path.Join("/", base.WorkingDir, c.Workdir)
		}
	}
	if c.User != nil {
		out.User = *c.User
	}
	if len(c.Ports) > 0 {
		out.ExposedPorts = maps.Clone(base.ExposedPorts)
		if out.ExposedPorts == nil {
			out.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range c.Ports {
			out.ExposedPorts[p] = struct{}{}
		}
	}
	return out
}

// Recorded is what a container recorded of how it was run.
type Recorded struct {
	Entrypoint, Cmd []string
	Env             []string // as run, with what hull added (HOSTNAME, TERM)
	Workdir, User   string
	TTY             bool
}

// Run is the image configuration of a container's run: base (its image's)
// with the container's Entrypoint, Cmd, Env, WorkingDir and User. The
// variables hull adds at run time (HOSTNAME, TERM for a terminal) are
// left out unless base has them, as Docker does. A container that
// recorded neither Entrypoint nor Cmd (made before hull recorded them)
// gives base.
func Run(base ocispec.ImageConfig, r Recorded) ocispec.ImageConfig {
	out := base
	if r.Entrypoint == nil && r.Cmd == nil {
		return out
	}
	out.Entrypoint, out.Cmd = slices.Clone(r.Entrypoint), slices.Clone(r.Cmd)
	out.Env = nil
	for _, e := range r.Env {
		if strings.HasPrefix(e, "HOSTNAME=") && !slices.Contains(base.Env, e) ||
			r.TTY && e == "TERM=xterm" && !slices.Contains(base.Env, e) {
			continue
		}
		out.Env = append(out.Env, e)
	}
	if r.Workdir != "" && !(r.Workdir == "/" && base.WorkingDir == "") {
		out.WorkingDir = r.Workdir
	}
	out.User = r.User
	return out
}
