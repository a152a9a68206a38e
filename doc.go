// Package hull is a container engine you import: it pulls, pushes and
// manages OCI and Docker images, runs containers from them, and gives them
// volumes and bridge networks, inside the program that calls it, with no
// daemon, no socket and nothing to install.
//
// # The story
//
// A Runtime is a handle on a state root (/var/lib/hull by default, or
// WithRoot). Open it, use it, Close it:
//
//	rt, err := hull.Open(ctx, hull.WithRoot(dir))
//	if err != nil { ... }
//	defer rt.Close()
//
//	img, err := rt.Pull(ctx, "localhost:5000/app:1", hull.WithProgress(report))
//	fmt.Println(img.ID(), img.RepoTags(), img.Config().Cmd)
//
// Pull resolves the reference the way Docker does ("redis" means
// docker.io/library/redis:latest), picks the host's platform from a
// multi-platform index, and streams every layer from the registry through
// digest verification, decompression and unpacking at once, several layers
// concurrently. Each layer is unpacked a single time, into a snapshot named
// by its chain ID, and shared by every image that contains it; blobs and
// layers already present are never fetched again.
//
// Images are found with Runtime.Image (by tag, digest or ID prefix) and
// Runtime.Images, tagged with Runtime.Tag, removed with
// Runtime.RemoveImage, and the space of unreferenced content is reclaimed
// by Runtime.Prune. Runtime.Import turns a root filesystem tar into a
// one-layer image, like `docker import`. Runtime.Save and Runtime.Load
// write and read image archives, like `docker save` and `docker load`:
// one tar holding both an OCI image layout and the docker save layout,
// which docker and skopeo accept.
//
// # Registries
//
// Runtime.Push sends an image back: it asks the registry which blobs it
// already has, mounts the ones another repository of the same registry
// holds, uploads only the rest (concurrently) and pushes the manifest byte
// for byte, so its digest is the same everywhere. Runtime.Login and
// Runtime.Logout keep credentials in docker's config.json, as `docker login`
// does; Runtime.RemoteTags lists a repository's tags. Every local tag keeps
// its history (Runtime.TagHistory), and Runtime.Tag to an older digest rolls
// it back.
//
// # Containers
//
// Runtime.Run (or Create then Container.Start) starts a container from an
// image: an init cloned from the calling process sets up new namespaces,
// an overlay root filesystem over the image's shared layers, Docker's
// default capabilities, seccomp profile and masked paths, then execs the
// command. For most containers it is a posix_spawn-like clone that runs C
// code in the caller's memory until that exec; those that need more (a
// terminal, WithInit, Detached, a volume to fill, a build without cgo)
// get a re-execution of the calling binary from a sealed in-memory copy,
// so that a container can never write to it.
// No daemon or shim stays behind: a container belongs to the process that
// started it and dies with it, unless it was started WithDetached. See
// docs/containers.md for the process model.
//
// # Sharing a root
//
// Several processes may open the same root at once and even pull the same
// image at the same moment: the store is content-addressed, every write is
// atomic (temp file and rename, with fsync for what must survive a crash
// of the machine), and cross-process locks make sure a
// layer is downloaded and unpacked once. A process that dies mid-pull
// leaves only files that the next Open removes.
//
// # Untrusted content
//
// Registries, manifests and layers are hostile until verified: every blob
// is checked against its digest before it becomes visible, metadata sizes
// are bounded, and a layer that tries to write outside its directory
// (absolute or ../ paths, links out of the root, writes through symlinks)
// is refused with an error wrapping ErrInvalidContent.
//
// # The API's rules
//
// Options, names and types follow a few rules, written down in
// docs/api.md: every option is a With... func of a type named for the
// call it configures (RunOption, ExecOption, ImageOption for Pull, Push,
// Load and Import...), a setting has one name wherever it applies
// (WithPlatform, WithProgress, WithForce), and values are Go types
// (syscall.Signal, time.Duration) rather than text to parse.
//
// # Errors
//
// Errors wrap the sentinels in errors.go (ErrNotFound, ErrConflict,
// ErrInvalidReference, ErrUnauthorized, ...) and are tested with
// errors.Is; a registry's reply is a *RegistryError.
//
// # Volumes
//
// A Volume is a directory in the root (volumes/<name>/_data) that
// containers mount with WithVolume; WithBind mounts a host path and
// WithTmpfs a tmpfs. As with Docker, an empty volume is first filled with
// the image's content at the mount path, an image's VOLUME paths get
// anonymous volumes (deleted by Remove with WithRemoveVolumes, or by
// PruneVolumes), and a volume in use by any container cannot be removed.
// Export and ImportVolume back a volume up to a tar stream and restore it.
//
// # Networks
//
// A Network is a Linux bridge with its own subnet (CreateNetwork); its
// state is under networks/<id>/ in the root, shared by every process that
// opens it. Containers join the default network "bridge" unless given
// WithNetwork (several are allowed) or WithNetworkMode ("none", "host",
// "container:<name>"). On user-defined networks containers find each other
// by name, alias and short ID; networks are isolated from each other, and
// internal ones have no way out. Connect and Disconnect work on running
// containers. Addresses are held while a container runs and released when
// it stops, is removed, or its owner dies (the next Open).
package hull
