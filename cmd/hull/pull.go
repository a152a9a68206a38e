package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/hullbox/hull"
)

func pullCmd() *command {
	return &command{
		name:    "pull",
		args:    "NAME[:TAG|@DIGEST]",
		short:   "Download an image from a registry",
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flags) action {
			var platform string
			var quiet bool
			fs.String(&platform, "", "platform", "os/arch[/variant]", "Pull this platform of a multi-platform image (default: the host's)")
			fs.Bool(&quiet, "q", "quiet", "Suppress verbose output")
			return func(ctx context.Context, e *env, args []string) error {
				return pullImage(ctx, e, args[0], platform, quiet)
			}
		},
	}
}

// pullImage pulls ref, reporting progress on stderr unless quiet, and
// prints the full reference on stdout, as docker does.
func pullImage(ctx context.Context, e *env, ref, platform string, quiet bool) error {
	r, err := hull.ParseReference(ref)
	if err != nil {
		return err
	}
	rt, err := e.runtime(ctx)
	if err != nil {
		return err
	}
	var opts []hull.ImageOption
	if platform != "" {
		opts = append(opts, hull.WithPlatform(platform))
	}
	var pp *progressPrinter
	if !quiet {
		pp = newProgressPrinter(e.stderr, e.stderrTTY, r)
		opts = append(opts, hull.WithProgress(pp.update))
	}
	before, _ := rt.Image(ctx, r.String()) // only to say "up to date"
	img, err := rt.Pull(ctx, ref, opts...)
	if err != nil {
		return withLoginHint(err, r.Domain)
	}
	if !quiet {
		fmt.Fprintf(e.stderr, "Digest: %s\n", pulledDigest(img, r))
		status := "Downloaded newer image for"
		if before != nil && before.Digest() == img.Digest() {
			status = "Image is up to date for"
		}
		fmt.Fprintf(e.stderr, "Status: %s %s\n", status, r.Familiar())
	}
	fmt.Fprintln(e.stdout, r.String())
	return nil
}

// pulledDigest is the digest the registry gave for r: the manifest list's
// when the image came from one, which is what docker prints.
func pulledDigest(img *hull.Image, r hull.Reference) string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	name := hull.Reference{Domain: r.Domain, Path: r.Path}.Familiar()
	for _, rd := range img.RepoDigests() {
		if repo, d, ok := strings.Cut(rd, "@"); ok && repo == name {
			return d
		}
	}
	return img.Digest().String()
}

// progressPrinter shows a pull's progress like docker: one line per layer.
// On a terminal each layer's line is redrawn in place as it advances;
// otherwise a line is printed only when a layer's status changes, so logs
// get no line per byte update.
type progressPrinter struct {
	w      io.Writer
	tty    bool
	ref    hull.Reference
	lines  []string          // keys of the lines printed, top to bottom
	last   map[string]string // key -> last status printed (not a terminal)
	status map[string]string // layer -> last status reported
}

func newProgressPrinter(w io.Writer, tty bool, ref hull.Reference) *progressPrinter {
	return &progressPrinter{w: w, tty: tty, ref: ref, last: map[string]string{}, status: map[string]string{}}
}

// update is the hull.WithProgress callback; the library never calls it
// concurrently.
func (p *progressPrinter) update(ev hull.Progress) {
	switch ev.Status {
	case "Resolving":
		// Docker's first line: "7: Pulling from library/redis".
		p.show("\x00resolve", ev.Status, ev.ID+": Pulling from "+p.ref.Path)
		return
	case "Done":
		return // pullImage prints the digest and the outcome
	case "Pull complete":
		if p.status[ev.ID] == "Already exists" {
			return // docker leaves a cached layer at "Already exists"
		}
	}
	p.status[ev.ID] = ev.Status
	p.show(ev.ID, ev.Status, p.layerLine(ev, "Downloading"))
}

// show prints or redraws the line for key.
func (p *progressPrinter) show(key, status, line string) {
	if !p.tty {
		if p.last[key] == status {
			return
		}
		p.last[key] = status
		fmt.Fprintln(p.w, line)
		return
	}
	idx := -1
	for i, k := range p.lines {
		if k == key {
			idx = i
		}
	}
	if idx < 0 {
		p.lines = append(p.lines, key)
		fmt.Fprintf(p.w, "%s\n", line)
		return
	}
	// Up to the layer's line, clear it, write, and back down.
	up := len(p.lines) - idx
	fmt.Fprintf(p.w, "\x1b[%dA\r\x1b[2K%s\x1b[%dB\r", up, line, up)
}

// progressBar draws docker's bar: one "=" per 2%, then ">", then spaces.
func progressBar(cur, total int64) string {
	const width = 50
	n := int(width * min(cur, total) / total)
	return "[" + strings.Repeat("=", n) + ">" + strings.Repeat(" ", width-n) + "]"
}
