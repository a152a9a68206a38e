package hull

import (
	"fmt"
	"github.com/hullbox/hull/internal/manifest"
	"slices"
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

// ImageOption configures the operations that bring images in and send
// them out: Pull, Push, Load and Import. An option means the same for each
// of them, and says which of them take it; an operation refuses, with
// ErrInvalidArgument, an option it has no use for.
type ImageOption func(*imageConfig) error

type imageConfig struct {
	progress    func(Progress)      // WithProgress
	platform    *ocispec.Platform   // WithPlatform
	compression Compression         // WithCompression; "" is CompressionGzip
	config      ocispec.ImageConfig // WithImportConfig
	comment     string              // WithImportMessage
	given       []string            // the names of the options applied
}

// imageOptions applies opts for op ("Pull", "Push", "Load", "Import"),
// which takes the options named in uses.
func imageOptions(op string, opts []ImageOption, uses ...string) (*imageConfig, error) {
	cfg := &imageConfig{}
	for _, o := range opts {
		if err := o(cfg); err != nil {
			return nil, err
		}
	}
	for _, name := range cfg.given {
		if !slices.Contains(uses, name) {
			return nil, fmt.Errorf("%w: %s is not an option of %s", ErrInvalidArgument, name, op)
		}
	}
	return cfg, nil
}

// Progress is one report of a transfer's advance (pull, push).
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

// WithProgress calls fn as a Pull or Push advances. By default nothing is
// reported. fn must not block for long: transfers wait for it.
func WithProgress(fn func(Progress)) ImageOption {
	return func(c *imageConfig) error {
		c.progress = fn
		c.given = append(c.given, "WithProgress")
		return nil
	}
}

// WithPlatform chooses the platform of the image: "os/arch" or
// "os/arch/variant" (e.g. "linux/arm64/v8"). Pull and Load take, from a
// multi-platform index, the image for platform (docker pull and load
// --platform); Import records it as the new image's platform (docker
// import --platform). The default is the host's.
func WithPlatform(platform string) ImageOption {
	return func(c *imageConfig) error {
		p, err := manifest.ParsePlatform(platform)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
		}
		c.platform = &p
		c.given = append(c.given, "WithPlatform")
		return nil
	}
}

// RemoveOption configures Container.Remove and Runtime.RemoveImage.
type RemoveOption func(*removeConfig) error

type removeConfig struct {
	force   bool
	volumes bool // WithRemoveVolumes: containers only
}

// WithForce removes what is in use: Container.Remove kills a running
// container first; RemoveImage removes an image that containers use or
// that has several tags (docker rm -f, docker rmi -f). Default: both
// refuse with ErrConflict.
func WithForce() RemoveOption {
	return func(c *removeConfig) error { c.force = true; return nil }
}

// WithRemoveVolumes makes Container.Remove also delete the container's
// anonymous volumes (made for an image's VOLUME or WithAnonymousVolume)
// that no other container uses, like docker rm -v. Default: they are kept
// (PruneVolumes removes them later), except for a WithAutoRemove
// container, as docker run --rm. Named volumes are never removed.
// RemoveImage refuses it with ErrInvalidArgument.
func WithRemoveVolumes() RemoveOption {
	return func(c *removeConfig) error { c.volumes = true; return nil }
}

// removeOptions applies opts.
func removeOptions(opts []RemoveOption) (removeConfig, error) {
	var cfg removeConfig
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// WithImportConfig sets the configuration (Cmd, Env, Entrypoint...) of
// the image Import makes, like `docker import --change`. Default: empty.
func WithImportConfig(cfg ocispec.ImageConfig) ImageOption {
	return func(c *imageConfig) error {
		c.config = cfg
		c.given = append(c.given, "WithImportConfig")
		return nil
	}
}

// WithImportMessage sets the history comment of the layer Import makes,
// like `docker import --message`. Default: none.
func WithImportMessage(msg string) ImageOption {
	return func(c *imageConfig) error {
		c.comment = msg
		c.given = append(c.given, "WithImportMessage")
		return nil
	}
}
