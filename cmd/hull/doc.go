// Command hull is a docker-like command-line tool over the hull library. It
// is a thin layer: each command parses its flags, calls the public API of
// package hull and prints the result the way docker does. Anything more
// belongs in the library, so that programs importing it can do the same.
//
// Usage:
//
//	hull [--root DIR] [--insecure-registry HOST]... [--config DIR] COMMAND [ARGS]
//
// State lives in --root, else $HULL_ROOT, else /var/lib/hull
// (hull.DefaultRoot). There is no daemon: every command opens the root,
// does its work and exits; several may run at once on one root.
// Registry credentials are docker's: DIR/config.json with --config, else
// $DOCKER_CONFIG/config.json, else ~/.docker/config.json, with the
// credential helpers it names.
//
// Commands:
//
//	pull [--platform os/arch[/variant]] [-q] NAME[:TAG|@DIGEST]
//	    Download an image. Progress goes to stderr (a line per layer,
//	    redrawn in place on a terminal, a line per status change
//	    otherwise), the full reference to stdout.
//	images [-a] [-q] [--digests] [--no-trunc] [REPOSITORY[:TAG]]
//	    List images: a row per tag, "<none>" for untagged images.
//	tag SOURCE TARGET
//	    Point TARGET at the image SOURCE names.
//	rmi [-f] IMAGE...
//	    Remove tags and images; goes on after a failure, then exits 1.
//	inspect [-f FORMAT] [--type image|container] NAME...
//	    Print images (else containers of that name) as a JSON array, or a Go template applied to each
//	    (with docker's functions: json, join, split, lower, upper, title,
//	    pad, truncate, println).
//	import [-c INSTRUCTION]... [-m MESSAGE] [--platform P] FILE|- [REF]
//	    Make a one-layer image from a root filesystem tar (plain, gzip or
//	    zstd; "-" reads stdin) and print its ID. --change takes the
//	    Dockerfile instructions CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
//	    STOPSIGNAL, USER, VOLUME and WORKDIR.
//	prune [-f]
//	    Remove dangling images and all content no image uses, after
//	    asking for confirmation unless -f is given.
//	push [-a] [-q] NAME[:TAG]
//	    Upload a local tag (with -a, every local tag of the repository).
//	    Progress goes to stderr as for pull; stdout gets a line per tag,
//	    "TAG: digest: sha256:... size: N" (the manifest's), or the full
//	    reference with -q. A registry's refusal suggests "hull login".
//	tags REPOSITORY
//	    List a repository's tags in its registry, one per line (hull's).
//	login [-u USER] [-p PASSWORD | --password-stdin] [SERVER]
//	    Check credentials with a registry (Docker Hub by default) and
//	    store them in docker's config.json. A missing user name is read
//	    from a line of stdin, a missing password too (without echo on a
//	    terminal). Refused credentials store nothing.
//	logout [SERVER]
//	    Remove stored credentials; not being logged in is no failure.
//	save [-o FILE] IMAGE...
//	    Write images as one tar (docker save and OCI layout at once) to
//	    stdout, never to a terminal, or to FILE, which is replaced only
//	    when the whole archive is written.
//	load [-i FILE] [-q] [--platform P]
//	    Read a docker save or OCI archive (plain, gzip or zstd) from stdin
//	    or FILE and print "Loaded image: NAME:TAG" per tag, "Loaded image
//	    ID: sha256:..." per untagged image.
//	history [--no-trunc] [-q] IMAGE
//	    Docker's history table, newest first. SIZE is the layer's blob
//	    size as stored (docker shows it unpacked), 0B for entries that
//	    made no layer.
//	history --tags [-q] [--no-trunc] NAME:TAG
//	    Every image a local tag has pointed at, oldest first (hull's):
//	    manifest digest, when it was tagged and the image ID, "<missing>"
//	    once removed. "hull tag DIGEST NAME:TAG" moves the tag back.
//	run [-d] [--rm] [-i] [-t] [CREATE FLAGS] IMAGE [COMMAND [ARG...]]
//	    Create and start a container; flags end at IMAGE. In the
//	    foreground hull follows its output and exits with its status
//	    (125 when hull failed, 126/127 when the command could not run);
//	    SIGINT and SIGTERM go to the container. A foreground container
//	    belongs to hull and is removed when hull exits, --rm or not
//	    (Docker keeps it, exited, without --rm). With -d it is
//	    hull.WithDetached and stays after it exits, as with Docker.
//	    -d prints the full ID; with -d, --rm removes it once it exited
//	    (the next hull command does, the starting hull being gone) and
//	    -i/-t keep its stdin open and give it a terminal for attach.
//	create [--name N] [-e K=V]... [-w DIR] [-u USER] [-m BYTES] [--cpus F]
//	       [--pids-limit N] [--read-only] [--cap-add C]... [--cap-drop C]...
//	       [--init] [--network none] [--entrypoint X]
//	       [--log-opt max-size=SIZE] [--log-opt max-file=N] IMAGE [COMMAND [ARG...]]
//	    Create a detached container and print its ID (-i, -t as run -d).
//	    --log-opt are docker's json-file options: the log is rotated at
//	    max-size (decimal units, as docker: 10k, 10m, 1g; -1: unlimited)
//	    and keeps max-file files. Default max-size=10m max-file=3 (docker:
//	    unlimited; see hull.DefaultLogMaxSize).
//	start [-a] [-i] CONTAINER..., stop [-t N], kill [-s SIG], restart [-t N],
//	rm [-f], pause, unpause, wait CONTAINER...
//	    Container lifecycle, by name, ID or unique ID prefix.
//	ps [-a] [-q] [--no-trunc]
//	    List containers, newest first.
//	logs [-f] [--tail N] [--since DURATION|TIME] CONTAINER
//	exec [-i] [-t] [-e K=V]... [-u USER] [-w DIR] CONTAINER COMMAND [ARG...]
//	    Run a command in a running container; exits with its status.
//	attach [--no-stdin] [--sig-proxy=false] [--detach-keys KEYS] CONTAINER
//	    Attach to a running container's output (from now on), its stdin
//	    if open, its terminal; ctrl-p ctrl-q detaches; exits with its
//	    status when it exits.
//	events [--since T] [--until T] [-f type=|event=|container=|image=]...
//	    Events of every process on the root, as docker events.
//	stats [--no-stream] [-a] [CONTAINER...], top CONTAINER
//	diff, export, cp, commit
//	    Container filesystems.
//	image ls|rm|inspect|prune|import|pull|push|tag|save|load|history
//	    The same commands under docker's "image" group.
//	system prune [-f]
//	    docker system prune: remove stopped containers, unused networks
//	    and dangling images; then, hull's own, sweep what hull roots
//	    that were deleted left on the host (their containers, Detached
//	    ones too, cgroups, bridges, rules: hull.Runtime.Sweep), after
//	    asking for confirmation unless -f is given.
//	version, help [COMMAND]
//
// Every command also takes -h or --help. Flags may follow positional
// arguments; "--" ends them.
//
// Exit status is 0 on success, 1 when the command failed (the error is
// printed on stderr as "hull: ..."), 125 when hull was called wrongly (an
// unknown command or flag, or the wrong number of arguments), as with
// docker. SIGINT and SIGTERM cancel the command cleanly (a pull leaves
// nothing half-written behind); hull then exits 130 or 143, and a second
// signal kills it at once.
package main
