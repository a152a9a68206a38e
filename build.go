package hull

import (
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"github.com/hullbox/hull/internal/manifest"
)

// BuildOption configures Runtime.Build.
type BuildOption func(*buildConfig) error

type buildConfig struct {
	dockerfile string    // path; "" is <context>/Dockerfile
	content    io.Reader // WithDockerfileContent
	tags       []string
	args       map[string]string
	target     string
	noCache    bool
	pull       bool
	network    NetworkMode
	labels     map[string]string
	platform   string
	progress   func(BuildEvent)
}

// WithDockerfile names the Dockerfile to build, a path as os.Open takes it
// (`docker build -f`). Default: "Dockerfile" in the context directory.
// Conflicts with WithDockerfileContent.
func WithDockerfile(path string) BuildOption {
	return func(c *buildConfig) error {
		if path == "" {
			return fmt.Errorf("%w: WithDockerfile: empty path", ErrInvalidArgument)
		}
		if c.content != nil {
			return fmt.Errorf("%w: WithDockerfile conflicts with WithDockerfileContent", ErrInvalidArgument)
		}
		c.dockerfile = path
		return nil
	}
}

// WithDockerfileContent reads the Dockerfile from r (`docker build -f -`),
// up to 4 MiB. Default: the file "Dockerfile" in the context directory.
// Conflicts with WithDockerfile.
func WithDockerfileContent(r io.Reader) BuildOption {
	return func(c *buildConfig) error {
		if r == nil {
			return fmt.Errorf("%w: WithDockerfileContent: nil reader", ErrInvalidArgument)
		}
		if c.dockerfile != "" {
			return fmt.Errorf("%w: WithDockerfileContent conflicts with WithDockerfile", ErrInvalidArgument)
		}
		c.content = r
		return nil
	}
}

// WithTags names the built image with each ref (`-t`, several allowed;
// "name" means "name:latest"). Default: the image is untagged. Tags move
// only when the build succeeds.
func WithTags(refs ...string) BuildOption {
	return func(c *buildConfig) error {
		for _, ref := range refs {
			if ref == "" {
				return fmt.Errorf("%w: WithTags: empty reference", ErrInvalidArgument)
			}
			tag, err := optionalTag(ref)
			if err != nil {
				return fmt.Errorf("%w: WithTags %q: %w", ErrInvalidArgument, ref, err)
			}
			c.tags = append(c.tags, tag)
		}
		return nil
	}
}

// WithBuildArg sets the build argument key (`--build-arg key=value`): the
// value of an ARG of that name. Default: the ARG's own default. An
// argument no ARG declares is ignored, as Docker does (with a note in the
// progress events).
func WithBuildArg(key, value string) BuildOption {
	return func(c *buildConfig) error {
		if key == "" || strings.ContainsAny(key, "= \t\n") {
			return fmt.Errorf("%w: WithBuildArg: bad name %q", ErrInvalidArgument, key)
		}
		if c.args == nil {
			c.args = map[string]string{}
		}
		c.args[key] = value
		return nil
	}
}

// WithTarget builds the stage named stage and what it needs, and stops
// there (`--target`). Default: the last stage.
func WithTarget(stage string) BuildOption {
	return func(c *buildConfig) error {
		if stage == "" {
			return fmt.Errorf("%w: WithTarget: empty stage name", ErrInvalidArgument)
		}
		c.target = stage
		return nil
	}
}

// WithNoCache runs every step again (`--no-cache`); the results still go
// into the cache for later builds. Default: unchanged steps are reused.
func WithNoCache() BuildOption {
	return func(c *buildConfig) error {
		c.noCache = true
		return nil
	}
}

// WithBuildPull pulls every FROM image again, even when it is stored
// (`--pull`). Default: a FROM image is pulled only if missing.
func WithBuildPull() BuildOption {
	return func(c *buildConfig) error {
		c.pull = true
		return nil
	}
}

// WithBuildNetwork sets the network of RUN steps (`--network`):
// NetworkModeNone, NetworkModeHost or NetworkModeBridge (hull's default
// bridge). Default: NetworkModeNone: a RUN step has only a loopback
// device, so nothing it does reaches the network unless asked. Docker's
// default is the bridge.
func WithBuildNetwork(mode NetworkMode) BuildOption {
	return func(c *buildConfig) error {
		switch mode {
		case NetworkModeNone, NetworkModeHost, NetworkModeBridge:
		default:
			return fmt.Errorf("%w: WithBuildNetwork %q: want none, host or bridge", ErrInvalidArgument, mode)
		}
		c.network = mode
		return nil
	}
}

// WithBuildLabels adds labels to the built image (`--label`), over those
// of its Dockerfile. Default: none.
func WithBuildLabels(labels map[string]string) BuildOption {
	return func(c *buildConfig) error {
		if c.labels == nil {
			c.labels = map[string]string{}
		}
		maps.Copy(c.labels, labels)
		return nil
	}
}

// WithBuildPlatform checks that the build is for platform ("os/arch[/variant]",
// `--platform`): hull builds for the host only, so another platform fails
// with ErrUnsupported before anything runs. Default: the host's.
func WithBuildPlatform(platform string) BuildOption {
	return func(c *buildConfig) error {
		if _, err := manifest.ParsePlatform(platform); err != nil {
			return fmt.Errorf("%w: WithBuildPlatform: %w", ErrInvalidArgument, err)
		}
		c.platform = platform
		return nil
	}
}

// WithBuildProgress calls fn for each BuildEvent: a step started, was
// found in the cache or is done, a line a RUN step printed. Calls come
// from the goroutines of the build (stages build concurrently); fn must
// not block for long. Default: no events.
func WithBuildProgress(fn func(BuildEvent)) BuildOption {
	return func(c *buildConfig) error {
		c.progress = fn
		return nil
	}
}

// BuildEventKind says what a BuildEvent reports.
type BuildEventKind string

// The kinds of BuildEvent.
const (
	BuildStepStarted BuildEventKind = "started" // the step runs
	BuildStepCached  BuildEventKind = "cached"  // the step's result came from the cache; nothing ran
	BuildStepDone    BuildEventKind = "done"    // the step ran, in Duration
	BuildStepOutput  BuildEventKind = "output"  // Line is a line the step's RUN printed
	BuildNote        BuildEventKind = "note"    // Line is a warning about the Dockerfile or options
)

// BuildEvent is one event of a build (WithBuildProgress).
type BuildEvent struct {
	Kind BuildEventKind
	// Stage is the stage's name, or its index ("0", "1" ...) if unnamed.
	Stage string
	// Step counts the steps of the build from 1 (FROM included), in
	// Dockerfile order; Steps is their number.
	Step, Steps int
	// Instruction is the step as written in the Dockerfile (one line).
	Instruction string
	// Line is the output line (BuildStepOutput) or the note (BuildNote).
	Line string
	// Duration is how long the step took (BuildStepDone).
	Duration time.Duration
	// ImageID is the image the step produced, if it made one
	// (BuildStepCached, BuildStepDone).
	ImageID string
}
