package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hullbox/hull"
)

func pushCmd() *command {
	return &command{
		name:    "push",
		args:    "NAME[:TAG]",
		short:   "Upload an image to a registry",
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flags) action {
			var all, quiet bool
			fs.Bool(&all, "a", "all-tags", "Push all local tags of the repository")
			fs.Bool(&quiet, "q", "quiet", "Suppress verbose output")
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				if all && hasTagOrDigest(args[0]) {
					return usageErrorf(path, "tag can't be used with --all-tags/-a")
				}
				return pushImages(ctx, e, args[0], all, quiet)
			}
		},
	}
}

// hasTagOrDigest reports whether a reference names more than a
// repository: a ":" after the last "/" (not a registry port), or "@".
func hasTagOrDigest(ref string) bool {
	return strings.Contains(ref, "@") || strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":")
}

// pushImages pushes name (with all, every local tag of its repository)
// like docker push: progress on stderr, a line per tag pushed on stdout,
// "TAG: digest: sha256:... size: N" (the full reference with quiet).
func pushImages(ctx context.Context, e *env, name string, all, quiet bool) error {
	r, err := hull.ParseReference(name)
	if err != nil {
		return err
	}
	rt, err := e.runtime(ctx)
	if err != nil {
		return err
	}
	refs := []hull.Reference{r}
	if all {
		if refs, err = localTags(ctx, rt, r); err != nil {
			return err
		}
	}
	if !quiet {
		fmt.Fprintf(e.stderr, "The push refers to repository [%s]\n", r.Name())
	}
	for _, ref := range refs {
		if err := pushOne(ctx, e, rt, ref, quiet); err != nil {
			return err
		}
	}
	return nil
}

// localTags lists the local tags of r's repository, sorted.
func localTags(ctx context.Context, rt *hull.Runtime, r hull.Reference) ([]hull.Reference, error) {
	imgs, err := rt.Images(ctx)
	if err != nil {
		return nil, err
	}
	var out []hull.Reference
	for _, img := range imgs {
		for _, t := range img.RepoTags() {
			if tr, err := hull.ParseReference(t); err == nil && tr.Name() == r.Name() {
				out = append(out, tr)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("An image does not exist locally with the tag: %s: %w",
			hull.Reference{Domain: r.Domain, Path: r.Path}.Familiar(), hull.ErrNotFound)
	}
	slices.SortFunc(out, func(a, b hull.Reference) int { return strings.Compare(a.Tag, b.Tag) })
	return out, nil
}

func pushOne(ctx context.Context, e *env, rt *hull.Runtime, r hull.Reference, quiet bool) error {
	var opts []hull.ImageOption
	var done hull.Progress // the manifest pushed: its digest and size
	if !quiet {
		pp := newProgressPrinter(e.stderr, e.stderrTTY, r)
		opts = append(opts, hull.WithProgress(func(ev hull.Progress) {
			if ev.Status == "Done" {
				done = ev
			}
			pp.pushUpdate(ev)
		}))
	}
	if err := rt.Push(ctx, r.String(), opts...); err != nil {
		return withLoginHint(err, r.Domain)
	}
	if quiet {
		fmt.Fprintln(e.stdout, r.String())
		return nil
	}
	// Not the local image's digest: a push may compress the layers, and
	// then sends another manifest.
	line := fmt.Sprintf("digest: %s size: %d", done.Digest, done.Total)
	if r.Tag != "" {
		line = r.Tag + ": " + line
	}
	fmt.Fprintln(e.stdout, line)
	return nil
}

// withLoginHint adds to a registry's refusal the command that may cure it.
func withLoginHint(err error, domain string) error {
	if !errors.Is(err, hull.ErrUnauthorized) {
		return err
	}
	cmd := "hull login"
	if domain != "" && domain != "docker.io" {
		cmd += " " + domain
	}
	return fmt.Errorf("%w\nLog in with '%s' and try again", err, cmd)
}

// pushUpdate is the WithProgress callback of a push, drawn like docker
// push: a line per layer, through Preparing, Pushing and then Pushed,
// Layer already exists or Mounted from REPO.
func (p *progressPrinter) pushUpdate(ev hull.Progress) {
	if ev.Status == "Done" {
		return // pushOne prints the digest line
	}
	p.show(ev.ID, ev.Status, p.layerLine(ev, "Pushing"))
}

// layerLine is a layer's progress line; while active (Downloading,
// Pushing) a terminal also gets docker's bar and byte counts.
func (p *progressPrinter) layerLine(ev hull.Progress, active string) string {
	line := ev.ID + ": " + ev.Status
	if ev.Status == active && p.tty && ev.Total > 0 {
		line += " " + progressBar(ev.Current, ev.Total) + " " +
			humanSize(ev.Current, 4) + "/" + humanSize(ev.Total, 4)
	}
	return line
}

func tagsCmd() *command {
	return &command{
		name:    "tags",
		args:    "REPOSITORY",
		short:   "List the tags of a repository in its registry (hull)",
		minArgs: 1, maxArgs: 1,
		setup: func(*flags) action {
			return func(ctx context.Context, e *env, args []string) error {
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				tags, err := rt.RemoteTags(ctx, args[0])
				if err != nil {
					domain := ""
					if r, perr := hull.ParseReference(args[0]); perr == nil {
						domain = r.Domain
					}
					return withLoginHint(err, domain)
				}
				for _, t := range tags {
					fmt.Fprintln(e.stdout, t)
				}
				return nil
			}
		},
	}
}
