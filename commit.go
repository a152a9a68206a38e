package hull

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hullbox/hull/internal/imageconfig"
	"github.com/hullbox/hull/internal/layers"
	"github.com/hullbox/hull/internal/manifest"
	"github.com/hullbox/hull/internal/snapshot"
	"github.com/hullbox/hull/internal/store"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CommitOption configures Container.Commit. The options are Docker's `commit --change`
// instructions: each changes the configuration inherited from the container's image.
type CommitOption func(*commitConfig) error

type commitConfig struct {
	change          imageconfig.Change
	message, author string
	noPause         bool
}

// WithCommitNoPause commits a running container without freezing it (`commit
// --pause=false`): files written meanwhile may be caught half-written. Default: a running
// container is paused while its changes are read, then resumed.
func WithCommitNoPause() CommitOption {
	return func(c *commitConfig) error {
		c.noPause = true
		return nil
	}
}

// WithCommitCmd sets the image's Cmd (CMD). Default: the image's, unless
// WithCommitEntrypoint is given (then none, as a Dockerfile's ENTRYPOINT does).
func WithCommitCmd(args ...string) CommitOption {
	return func(c *commitConfig) error {
		c.change.Cmd, c.change.CmdSet = slices.Clone(args), true
		return nil
	}
}

// WithCommitEntrypoint sets the image's Entrypoint (ENTRYPOINT); no arguments clear it.
// Default: the image's.
func WithCommitEntrypoint(args ...string) CommitOption {
	return func(c *commitConfig) error {
		c.change.Entrypoint, c.change.EntrypointSet = slices.Clone(args), true
		return nil
	}
}

// WithCommitEnv sets "KEY=value" variables (ENV), replacing the image's value of the same
// KEY. Default: the image's Env.
func WithCommitEnv(kv ...string) CommitOption {
	return func(c *commitConfig) error {
		for _, e := range kv {
			if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
				return fmt.Errorf("%w: env %q: want KEY=value", ErrInvalidArgument, e)
			}
		}
		c.change.Env = append(c.change.Env, kv...)
		return nil
	}
}

// WithCommitLabels adds labels (LABEL), replacing the image's of the same key. Default:
// the image's labels.
func WithCommitLabels(labels map[string]string) CommitOption {
	return func(c *commitConfig) error {
		if c.change.Labels == nil {
			c.change.Labels = map[string]string{}
		}
		maps.Copy(c.change.Labels, labels)
		return nil
	}
}

// WithCommitWorkdir sets the working directory (WORKDIR); a relative dir is joined to the
// image's. Default: the image's.
func WithCommitWorkdir(dir string) CommitOption {
	return func(c *commitConfig) error {
		if dir == "" {
			return fmt.Errorf("%w: empty workdir", ErrInvalidArgument)
		}
		c.change.Workdir = dir
		return nil
	}
}

// WithCommitUser sets the user (USER). Default: the image's.
func WithCommitUser(user string) CommitOption {
	return func(c *commitConfig) error {
		c.change.User = &user
		return nil
	}
}

// WithCommitExposedPorts adds exposed ports (EXPOSE): "80", "80/tcp", "53/udp". Default:
// the image's.
func WithCommitExposedPorts(ports ...string) CommitOption {
	return func(c *commitConfig) error {
		for _, p := range ports {
			num, proto, _ := strings.Cut(p, "/")
			if num == "" || strings.Trim(num, "0123456789-") != "" || (proto != "" && proto != "tcp" && proto != "udp" && proto != "sctp") {
				return fmt.Errorf("%w: port %q: want PORT[/tcp|udp|sctp]", ErrInvalidArgument, p)
			}
			if proto == "" {
				p += "/tcp"
			}
			c.change.Ports = append(c.change.Ports, p)
		}
		return nil
	}
}

// WithCommitMessage sets the comment of the new history entry (`commit -m`). Default:
// none.
func WithCommitMessage(msg string) CommitOption {
	return func(c *commitConfig) error {
		c.message = msg
		return nil
	}
}

// WithCommitAuthor sets the image's author (`commit -a`). Default: the image's.
func WithCommitAuthor(author string) CommitOption {
	return func(c *commitConfig) error {
		c.author = author
		return nil
	}
}

// Commit makes a new image of the container's image plus one layer holding the
// container's changes to its filesystem (files written, and deletions as whiteouts), like
// `docker commit`, and tags it ref (empty: untagged). The configuration is the
// container's (see below), changed by opts; the history gets one entry.
//
// The layer is stored uncompressed, like Import's: committing costs one read of the
// changes and no compression. Push compresses it (gzip by default, see WithCompression)
// the first time it is pushed and keeps the compressed blob for later pushes. It is unpacked as a snapshot by the
// same code a pull uses, so the new image shares and runs exactly like a pulled one.
//
// A running container is paused (cgroup freezer) while its changes are read, as Docker
// does, unless WithCommitNoPause.
//
// As Docker, the configuration starts from the container's run configuration: the
// Entrypoint, Cmd, Env, WorkingDir and User it was created with (the image's, changed by
// Create's options), not the image's alone.
func (c *Container) Commit(ctx context.Context, ref string, opts ...CommitOption) (*Image, error) {
	rt := c.rt
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	var cfg commitConfig
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("commit %s: %w", shortContainerID(c.id), err)
		}
	}
	tag, err := optionalTag(ref)
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	var img *Image
	resume, err := c.pauseForCommit(ctx, cfg.noPause)
	if err == nil {
		img, err = c.commit(ctx, tag, &cfg)
		err = errors.Join(err, resume())
	}
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", shortContainerID(c.id), err)
	}
	c.event("commit", map[string]string{"imageID": img.ID(), "ref": ref})
	return img, nil
}

func (c *Container) commit(ctx context.Context, tag string, cfg *commitConfig) (*Image, error) {
	rt := c.rt
	c.mu.Lock()
	st := c.st
	c.mu.Unlock()
	parent, err := rt.imageByDigest(st.ImageDigest)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", st.Image, err)
	}
	gcLock, err := rt.store.Writing(ctx)
	if err != nil {
		return nil, err
	}
	defer gcLock.Unlock()

	added, err := layers.AddDiff(ctx, rt.store, rt.snaps, rt.containerDir(c.id)+"/upper", c.mountPoints())
	if err != nil {
		return nil, alsoIs(err, layers.ErrInvalidContent, ErrInvalidContent)
	}
	defer added.Pending.Abort()
	diffID, res, pending := added.DiffID, added.Result, added.Pending
	layer := ocispec.Descriptor{Digest: diffID, Size: added.Size}
	parentChains := parent.rec.ChainIDs
	chains := manifest.ChainIDs(append(slices.Clone(parent.config.RootFS.DiffIDs), diffID))
	if len(chains) != len(parentChains)+1 || (len(parentChains) > 0 && chains[len(parentChains)-1] != parentChains[len(parentChains)-1]) {
		return nil, fmt.Errorf("%w: image %s: chain IDs do not match its diff IDs", ErrInvalidContent, st.Image)
	}
	top := chains[len(chains)-1]
	meta := snapshot.Meta{ChainID: top, DiffID: diffID, Size: res.Size}
	if len(parentChains) > 0 {
		meta.Parent = parentChains[len(parentChains)-1]
	}
	if err := pending.Commit(meta); err != nil {
		return nil, err
	}

	now := time.Now().UTC()
	config := parent.config
	config.Created = &now
	config.Config = cfg.change.Apply(imageconfig.Run(parent.config.Config, imageconfig.Recorded{
		Entrypoint: st.Entrypoint, Cmd: st.Cmd, Env: st.Env, Workdir: st.Workdir, User: st.User, TTY: st.TTY,
	}))
	if cfg.author != "" {
		config.Author = cfg.author
	}
	config.RootFS.DiffIDs = append(slices.Clone(parent.config.RootFS.DiffIDs), diffID)
	config.History = append(slices.Clone(parent.config.History), ocispec.History{
		Created: &now, Author: cfg.author, CreatedBy: strings.Join(st.Args, " "), Comment: cfg.message,
	})
	rec, err := rt.writeCommitted(parent, config, st.Healthcheck, layer, chains, parent.rec.Size+res.Size)
	if err != nil {
		return nil, err
	}
	if err := rt.addImage(ctx, rec, tag, ""); err != nil {
		return nil, err
	}
	return rt.imageByDigest(rec.Manifest)
}

// writeCommitted stores config (with health, the container's health
// check, as Docker's commit keeps it) and a manifest of parent's layers plus layer, in parent's
// manifest format (OCI or Docker schema 2), and returns the image's record.
func (rt *Runtime) writeCommitted(parent *Image, config ocispec.Image, health *Healthcheck, layer ocispec.Descriptor, chains []digest.Digest, size int64) (*store.ImageRecord, error) {
	mt, ct, lt := ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageLayer
	if parent.rec.MediaType == manifest.MediaTypeDockerManifest {
		mt, ct, lt = manifest.MediaTypeDockerManifest, manifest.MediaTypeDockerConfig, manifest.MediaTypeDockerLayerTar
	}
	layer.MediaType = lt
	return rt.store.WriteImage(mt, ct, withHealthcheck(config, health), append(slices.Clone(parent.manifest.Layers), layer), chains, size)
}

// runEntrypointCmd is the entrypoint and command a container created with
// rc runs, split as Docker keeps them in a container's config: an
// entrypoint override (even empty) drops the image's Cmd; WithCmd
// replaces it.
func runEntrypointCmd(img ocispec.ImageConfig, rc *runConfig) (entrypoint, cmd []string) {
	entrypoint, cmd = img.Entrypoint, img.Cmd
	if rc.entrySet {
		entrypoint, cmd = rc.entrypoint, nil
	}
	if rc.cmdSet {
		cmd = rc.cmd
	}
	return slices.Clone(entrypoint), slices.Clone(cmd)
}
