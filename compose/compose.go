// Package compose runs multi-container applications described by compose
// files (the Compose Specification, as Docker Compose v2 reads them) on a
// hull.Runtime.
//
// Load reads the files with compose-go (interpolation, .env, env_file,
// profiles, extends, include, several files merged, the project name from
// -p, COMPOSE_PROJECT_NAME, the name: key or the directory) into a
// *Project. A Project holds no Runtime and no open resource: each action
// takes the Runtime it works on, so one loaded Project can be brought up
// by one process and taken down by another.
//
//	p, err := compose.Load(ctx, compose.WithFiles("compose.yaml"))
//	err = p.Up(ctx, rt, compose.WithDetached(), compose.WithWait())
//	err = p.Down(ctx, rt, compose.WithRemoveVolumes())
//
// Everything Up makes is labelled as Docker Compose labels it
// (com.docker.compose.project, .service, .container-number, .config-hash
// ...), so Down, Ps and Logs from any process find it by label.
//
// A field of the specification that hull cannot honour makes Up fail
// before anything starts, with a *FieldError naming the file, the service
// and the field; nothing is silently ignored.
package compose

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/errdefs"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/hullbox/hull"
)

// Project is a loaded, normalized compose project. It is immutable once
// loaded and safe for concurrent use.
type Project struct {
	p      *types.Project
	byName bool // Named: every labelled container is the project's
}

// Named is a project known only by its name, as `docker compose -p NAME
// down` is without a compose file: Down, Stop, Start, Restart, Ps and
// Logs act on whatever carries the project's label (Down removes every
// container, orphan or not); Up has no service to start.
func Named(name string) *Project {
	return &Project{p: &types.Project{Name: name, Services: types.Services{}}, byName: true}
}

// LoadOption configures Load.
type LoadOption func(*loadConfig) error

type loadConfig struct {
	files    []string
	name     string
	workdir  string
	profiles []string
	envFiles []string
	env      []string
}

// WithFiles names the compose files, merged in order (docker compose -f,
// repeated). "-" reads standard input. Default: COMPOSE_FILE, else
// compose.yaml, compose.yml, docker-compose.yml or docker-compose.yaml in
// the working directory or the nearest parent that has one.
func WithFiles(files ...string) LoadOption {
	return func(c *loadConfig) error { c.files = append(c.files, files...); return nil }
}

// WithProjectName sets the project name (docker compose -p). Default:
// COMPOSE_PROJECT_NAME, else the top-level name: key, else the base name
// of the working directory.
func WithProjectName(name string) LoadOption {
	return func(c *loadConfig) error {
		c.name = name
		return nil
	}
}

// WithWorkingDir sets the project directory, against which relative paths
// (build contexts, binds, env files) are resolved and where .env is read
// (docker compose --project-directory). Default: the directory of the
// first compose file.
func WithWorkingDir(dir string) LoadOption {
	return func(c *loadConfig) error { c.workdir = dir; return nil }
}

// WithProfiles enables profiles (docker compose --profile). Default:
// COMPOSE_PROFILES; services with profiles are otherwise disabled.
func WithProfiles(profiles ...string) LoadOption {
	return func(c *loadConfig) error { c.profiles = append(c.profiles, profiles...); return nil }
}

// WithEnvFiles reads interpolation variables from these files instead of
// the project directory's .env (docker compose --env-file).
func WithEnvFiles(files ...string) LoadOption {
	return func(c *loadConfig) error { c.envFiles = append(c.envFiles, files...); return nil }
}

// WithEnvironment sets the variables ("K=V") interpolation sees, over
// .env's. Default: the process's environment.
func WithEnvironment(kv ...string) LoadOption {
	return func(c *loadConfig) error {
		if c.env == nil {
			c.env = []string{}
		}
		c.env = append(c.env, kv...)
		return nil
	}
}

// Load reads, merges, interpolates and validates compose files into a
// Project. Without WithFiles or COMPOSE_FILE, and no compose file in the
// working directory or a parent, it fails with hull.ErrNotFound. An error (unknown key, bad interpolation, unknown service in
// depends_on, a dependency cycle, a file that cannot be read) names the
// file and the place in it, and wraps hull.ErrInvalidArgument. Fields
// hull cannot run are not refused here (Config prints them): Up and Check
// refuse them.
func Load(ctx context.Context, opts ...LoadOption) (*Project, error) {
	var c loadConfig
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	pos := []cli.ProjectOptionsFn{
		cli.WithName(c.name),
		cli.WithWorkingDirectory(c.workdir),
	}
	if c.env != nil {
		pos = append(pos, cli.WithEnv(c.env))
	} else {
		pos = append(pos, cli.WithOsEnv)
	}
	// As docker compose: .env of the working directory first (it may set
	// COMPOSE_FILE), then, once the files are found, that of the project
	// directory; what is set already wins (the process's environment).
	pos = append(pos, cli.WithEnvFiles(c.envFiles...), cli.WithDotEnv, cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath, cli.WithEnvFiles(c.envFiles...), cli.WithDotEnv,
		cli.WithDefaultProfiles(c.profiles...))
	po, err := cli.NewProjectOptions(c.files, pos...)
	if err != nil {
		return nil, fmt.Errorf("compose: %w: %w", hull.ErrInvalidArgument, err)
	}
	p, err := po.LoadProject(ctx)
	if errdefs.IsNotFoundError(err) && len(po.ConfigPaths) == 0 {
		return nil, fmt.Errorf("compose: %w: no compose file (compose.yaml, docker-compose.yml ...) here or in a parent directory", hull.ErrNotFound)
	}
	if err != nil {
		files := strings.Join(po.ConfigPaths, ", ")
		if len(po.ConfigPaths) > 0 && strings.Contains(err.Error(), po.ConfigPaths[0]) {
			files = "" // compose-go named it
		}
		if files != "" {
			return nil, fmt.Errorf("compose: %s: %w: %w", files, hull.ErrInvalidArgument, err)
		}
		return nil, fmt.Errorf("compose: %w: %w", hull.ErrInvalidArgument, err)
	}
	proj := &Project{p: p}
	if _, err := proj.order(); err != nil {
		return nil, err
	}
	return proj, nil
}

// Check reports, as Up would before starting anything, every field of
// the project hull cannot honour or finds wrong (a *FieldError each,
// joined), and host ports two services would both publish.
func (p *Project) Check() error { return p.check() }

// Name is the project's name, the prefix of everything Up creates.
func (p *Project) Name() string { return p.p.Name }

// WorkingDir is the project directory.
func (p *Project) WorkingDir() string { return p.p.WorkingDir }

// Files are the compose files the project was loaded from, absolute.
func (p *Project) Files() []string { return append([]string(nil), p.p.ComposeFiles...) }

// Services are the names of the project's enabled services, sorted.
func (p *Project) Services() []string { return p.p.ServiceNames() }

// Config is the normalized project as YAML, what `docker compose config`
// prints: interpolated, merged, defaults filled in, paths absolute.
func (p *Project) Config() ([]byte, error) { return p.p.MarshalYAML() }

// ConfigJSON is Config as JSON (docker compose config --format json).
func (p *Project) ConfigJSON() ([]byte, error) { return p.p.MarshalJSON() }

// file is the compose file errors name: the first of the project's
// files, relative to the working directory when it is under it.
func (p *Project) file() string {
	if len(p.p.ComposeFiles) == 0 {
		return "compose.yaml"
	}
	f := p.p.ComposeFiles[0]
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, f); err == nil && !filepath.IsAbs(rel) && len(rel) < len(f) {
			return rel
		}
	}
	return f
}
