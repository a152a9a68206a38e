package hull

import (
	"fmt"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultRoot is where a Runtime keeps its state unless WithRoot says
// otherwise.
const DefaultRoot = "/var/lib/hull"

// Option configures Open.
type Option func(*runtimeConfig) error

type runtimeConfig struct {
	root       string
	insecure   map[string]bool
	auth       map[string]credential
	dockerConf string
	parallel   int
}

type credential struct{ user, password string }

// WithRoot keeps the runtime's state (blobs, snapshots, metadata) in dir
// instead of DefaultRoot. The directory is created if needed. Several
// processes may use the same root at once.
func WithRoot(dir string) Option {
	return func(c *runtimeConfig) error {
		if dir == "" {
			return fmt.Errorf("%w: WithRoot: empty directory", ErrInvalidArgument)
		}
		c.root = dir
		return nil
	}
}

// WithInsecureRegistry lets the runtime talk plain HTTP to the named
// registries ("host" or "host:port"). By default only localhost, 127.0.0.1
// and ::1 are spoken to over plain HTTP; every other registry needs TLS.
func WithInsecureRegistry(hosts ...string) Option {
	return func(c *runtimeConfig) error {
		for _, h := range hosts {
			if h == "" || strings.ContainsAny(h, "/ ") {
				return fmt.Errorf("%w: WithInsecureRegistry: bad host %q", ErrInvalidArgument, h)
			}
			c.insecure[h] = true
		}
		return nil
	}
}

// WithAuth sets the credentials for one registry ("host[:port]"; use
// "docker.io" for Docker Hub). They take precedence over
// ~/.docker/config.json, which is consulted otherwise (auths and credential
// helpers, like the docker CLI).
func WithAuth(registry, user, password string) Option {
	return func(c *runtimeConfig) error {
		if registry == "" {
			return fmt.Errorf("%w: WithAuth: empty registry", ErrInvalidArgument)
		}
		c.auth[registry] = credential{user, password}
		return nil
	}
}

// WithDockerConfig reads registry credentials from the docker config.json
// at path instead of the default ($DOCKER_CONFIG/config.json, else
// ~/.docker/config.json).
func WithDockerConfig(path string) Option {
	return func(c *runtimeConfig) error {
		c.dockerConf = path
		return nil
	}
}

// WithMaxConcurrentDownloads bounds how many layers one pull fetches, and
// how many layers of 1 MiB or more one push uploads, at once. The default
// is 4.
func WithMaxConcurrentDownloads(n int) Option {
	return func(c *runtimeConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: WithMaxConcurrentDownloads(%d)", ErrInvalidArgument, n)
		}
		c.parallel = n
		return nil
	}
}

// PullOption configures Pull. WithProgress and WithPlatform are
// PullOptions.
type PullOption interface{ applyPull(*pullConfig) error }

type pullConfig struct {
	progress func(Progress)
	platform *ocispec.Platform
}

type pullOptionFunc func(*pullConfig) error

func (f pullOptionFunc) applyPull(c *pullConfig) error { return f(c) }

// Progress is one report of a transfer's advance (pull, push, import).
// Reports for one operation are delivered one at a time, never
// concurrently.
type Progress struct {
	Ref     string // the reference being transferred
	ID      string // short digest of the layer or manifest this report is about
	Status  string // "Resolving", "Waiting", "Downloading", "Already exists", "Pull complete", "Done" (pull); "Preparing", "Pushing", "Layer already exists", "Mounted from <repo>", "Pushed", then "Done" for the manifest (push)
	Current int64  // bytes done (Downloading, Pushing)
	Total   int64  // bytes in all (Downloading, Pushing); a push's "Done": the manifest's size
	// Digest is, in a push's "Done" report, the digest of the manifest
	// pushed (the image's Digest, or that of the manifest naming its
	// layers compressed, see Push); empty in every other report.
	Digest digest.Digest
}

// ProgressOption reports a transfer's advance; it is both a PullOption and
// a PushOption. Make one with WithProgress.
type ProgressOption struct{ fn func(Progress) }

func (o ProgressOption) applyPull(c *pullConfig) error { c.progress = o.fn; return nil }

func (o ProgressOption) applyPush(c *pushConfig) error { c.progress = o.fn; return nil }

// PushOption configures Push. WithProgress and WithCompression are
// PushOptions.
type PushOption interface{ applyPush(*pushConfig) error }

type pushConfig struct {
	progress    func(Progress)
	compression Compression // "" is CompressionGzip
}

// WithProgress calls fn as a pull or push advances. By default nothing is
// reported. fn must not block for long: transfers wait for it.
func WithProgress(fn func(Progress)) ProgressOption { return ProgressOption{fn: fn} }

// WithPlatform chooses the image from a multi-platform index: "os/arch" or
// "os/arch/variant" (e.g. "linux/arm64/v8"). The default is the host's.
func WithPlatform(platform string) PullOption {
	return pullOptionFunc(func(c *pullConfig) error {
		p, err := parsePlatform(platform)
		if err != nil {
			return err
		}
		c.platform = &p
		return nil
	})
}

func parsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ocispec.Platform{}, fmt.Errorf("%w: platform %q: want os/arch[/variant]", ErrInvalidArgument, s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// RemoveImageOption configures RemoveImage.
type RemoveImageOption func(*removeImageConfig)

type removeImageConfig struct{ force bool }

// WithForce removes the image even if containers use it or it has several
// tags. Default: refuse with ErrConflict.
func WithForce() RemoveImageOption {
	return func(c *removeImageConfig) { c.force = true }
}

// ImportOption configures Import.
type ImportOption func(*importConfig) error

type importConfig struct {
	config   ocispec.ImageConfig
	platform *ocispec.Platform
	comment  string
}

// WithImportConfig sets the imported image's configuration (Cmd, Env,
// Entrypoint...), like `docker import --change`. Default: empty.
func WithImportConfig(cfg ocispec.ImageConfig) ImportOption {
	return func(c *importConfig) error {
		c.config = cfg
		return nil
	}
}

// WithImportPlatform sets the image's os/arch[/variant]. Default: the host's.
func WithImportPlatform(platform string) ImportOption {
	return func(c *importConfig) error {
		p, err := parsePlatform(platform)
		if err != nil {
			return err
		}
		c.platform = &p
		return nil
	}
}

// WithImportMessage sets the history comment of the imported layer, like
// `docker import --message`. Default: none.
func WithImportMessage(msg string) ImportOption {
	return func(c *importConfig) error {
		c.comment = msg
		return nil
	}
}
