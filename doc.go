// Package hull is a container engine you import: it runs containers,
// manages their images, networks and volumes, and talks to registries,
// inside the program that calls it, with no daemon, no socket and
// nothing else to install. It needs Linux, root and cgo: built with
// CGO_ENABLED=0, Open fails with an error wrapping ErrUnsupported saying
// so, and on other systems it compiles and the calls that need Linux
// (Create, Run ...) return ErrUnsupported.
//
// A Runtime is a handle on a state root (DefaultRoot, /var/lib/hull, or
// WithRoot). Open it, use it, Close it:
//
//	rt, err := hull.Open(ctx, hull.WithRoot(dir))
//	if err != nil { ... }
//	defer rt.Close() // ends the containers this Runtime owns
//
//	c, err := rt.Run(ctx, "redis:7", hull.WithName("cache"), hull.WithPublish("127.0.0.1::6379"))
//	res, err := c.Exec(ctx, []string{"redis-cli", "ping"}, hull.WithExecStdout(os.Stdout))
//	err = c.Stop(ctx, 10*time.Second)
//	st, err := c.Wait(ctx) // st.ExitCode, st.Signal, st.OOMKilled
//	err = c.Remove(ctx)
//
// # Containers
//
// Runtime.Run pulls the image if it is missing, then creates and starts a
// container (Runtime.Create and Container.Start separately): new PID,
// mount, UTS, IPC, network and cgroup namespaces, an overlay root
// filesystem over the image's shared layers, Docker's default
// capabilities, seccomp profile, masked paths and resource limits
// (WithMemory, WithCPUs, WithPidsLimit) applied before the command runs.
// Container.Exec runs more commands in it, Container.Logs reads its
// output from any process, Container.Wait returns its ExitStatus with
// Docker's exit codes (125, 126, 127, 128+signal), and Stop, Kill,
// Restart, Pause, Resume, Stats, Top, Diff, Export, the Copy methods,
// Attach and Commit do what the docker commands of those names do.
// Runtime.Container finds one by name or ID, Runtime.Containers lists
// them (WithAllContainers, WithFilterLabel ...), from any process on the
// root.
//
// Most containers start as a clone of the calling process that runs C
// code until it execs the command; those that need more (WithInit,
// WithDetached, a volume to fill) re-execute a sealed in-memory copy of
// the program, whose package initialisers then run before the container
// is set up. Nothing needs to be called from main or TestMain.
// docs/containers.md has the process model.
//
// # Ownership
//
// A container belongs to the process that started it: when that process
// calls Runtime.Close, or dies, its containers die too (parent-death
// signal and cgroup kill), so a crashed test or tool leaks nothing. A
// container started WithDetached outlives its creator instead, watched by
// a small shim of hull's; any process on the same root finds it and can
// Wait, Stop, Exec, read Logs and Remove it, as the docker CLI does with
// dockerd's containers. Open recovers what a killed owner left behind
// (mounts, cgroups, addresses, firewall rules), and what a deleted root
// left on the host (Runtime.Sweep).
//
// # Images
//
// Runtime.Pull resolves a reference as Docker does ("redis" is
// docker.io/library/redis:latest), picks the host's platform from an
// index (WithPlatform for another), and streams every layer through
// digest verification, decompression and unpacking at once. Each layer
// is unpacked a single time, into a snapshot named by its chain ID, and
// shared by every image and container that uses it. Runtime.Image and
// Runtime.Images find local images, Runtime.Tag names them and keeps
// each tag's history (Runtime.TagHistory: a rollback is a Tag),
// Runtime.RemoveImage and Runtime.Prune free space, Runtime.Import makes
// an image of a root filesystem tar, Container.Commit one of a container,
// and Runtime.Save and Runtime.Load write and read docker save and OCI
// archives. Layers, manifests and archives are hostile until verified:
// a path that escapes its layer or a blob that does not match its digest
// fails the call with ErrInvalidContent and stores nothing.
//
// # Builds
//
// Runtime.Build builds an image from a Dockerfile and a context
// directory, as docker build does: BuildKit's parser and variable
// expansion, multi-stage builds (unneeded stages skipped, independent
// ones built at once), .dockerignore, and a layer cache in the store, so
// that an unchanged rebuild starts nothing and a changed file rebuilds
// from its step on. RUN steps are containers of this package, with no
// network unless WithBuildNetwork says so; COPY and ADD write their layer
// straight from the context. A bad Dockerfile fails with
// ErrInvalidDockerfile naming the line; a failing RUN with a *BuildError.
// See docs/build.md.
//
// # Health checks and restart policies
//
// WithHealthcheck (or the image's HEALTHCHECK) runs a check in the
// container as Docker does, shown in Inspect's State.Health, announced by
// health_status events and awaited by Container.WaitHealthy.
// WithRestartPolicy restarts a container that exits ("on-failure",
// "always", "unless-stopped") with Docker's backoff. Both run in the
// owning process, and for a Detached container in a supervisor process
// of its own that outlives the creator.
//
// # Networks
//
// Containers join the default network "bridge" unless given WithNetwork
// (a user-defined bridge from Runtime.CreateNetwork; several allowed) or
// WithNetworkMode ("none", "host", "container:<name>"). On a user-defined
// network containers find each other by name and alias through hull's
// DNS server; networks are isolated from each other, internal ones
// (WithInternal) from everything. WithPublish publishes a port on the
// host, like docker run -p. Network.Connect and Disconnect work on running
// containers. See docs/networks.md, docs/dns.md and docs/ports.md.
//
// # Volumes
//
// A Volume (Runtime.CreateVolume) is a directory under the root that
// containers mount with WithVolume; WithBind mounts a host path and
// WithTmpfs a tmpfs. As with Docker, an empty volume is first filled from
// the image, an image's VOLUME paths get anonymous volumes, and a volume
// used by any container cannot be removed. Volume.Export and
// Runtime.ImportVolume back one up to a tar stream and restore it.
//
// # Registries
//
// Runtime.Push sends a local tag to its registry, uploading only the
// blobs the registry lacks and mounting those another of its repositories
// holds. Credentials come from WithAuth, then docker's config.json (its
// credential helpers too); Runtime.Login and Runtime.Logout manage them as
// docker login does, and Runtime.RemoteTags lists a repository's tags.
// Registries other than localhost, and those given to
// WithInsecureRegistry, are reached over TLS.
//
// # Events and sharing a root
//
// Several processes may open the same root at once, even to pull the same
// image at the same moment: the store is content-addressed, writes are
// atomic and cross-process locks make each layer fetched and unpacked
// once. Every process appends what it does to the root's event log, and
// Runtime.Events follows it (container create, start, die, destroy ...;
// image pull, tag, delete; network create, destroy), like docker events.
//
// # Errors and options
//
// Errors wrap the sentinels of this package (ErrNotFound, ErrConflict,
// ErrInvalidArgument, ErrInvalidReference, ErrUnauthorized, ...) and are
// tested with errors.Is; a registry's reply is a *RegistryError, a failed
// start a *StartError. Every option is a With... func of a type named for
// the call it configures (RunOption, ExecOption, ImageOption ...), and
// states its default; docs/api.md has the rules.
//
// # Beyond this package
//
// Package github.com/hullbox/hull/compose runs compose files (compose-go)
// on a Runtime: Up, Down, Ps, Logs and the rest of docker compose.
// Package github.com/hullbox/hull/hulltest is for go test: containers
// removed with the test, endpoints, wait strategies, test images and
// registries.
//
// # The CLI
//
// cmd/hull is a docker-like command over these packages (hull run, ps,
// exec, logs, build, pull, push, images, network, volume, events, compose,
// system prune ...), with Docker's flags where they apply. It adds no
// logic the libraries lack: what it does, a program can do with the calls
// above.
package hull
