// Command hull is a docker-like command-line tool over the hull library. It
// is a thin layer: each command parses its flags, calls the public API of
// package hull and prints the result the way docker does. Anything more
// belongs in the library, so that programs importing it can do the same.
//
// Usage:
//
//	hull [--root DIR] [--insecure-registry HOST]... COMMAND [ARGS]
//
// State lives in --root, else $HULL_ROOT, else /var/lib/hull
// (hull.DefaultRoot). There is no daemon: every command opens the root,
// does its work and exits; several may run at once on one root.
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
//	inspect [-f FORMAT] IMAGE...
//	    Print images as a JSON array, or a Go template applied to each
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
//	image ls|rm|inspect|prune|import|pull|tag
//	    The same commands under docker's "image" group.
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
