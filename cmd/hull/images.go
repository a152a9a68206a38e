package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/hullbox/hull"
)

// imageGroup is "hull image SUBCOMMAND", docker's management command for
// the image commands that also exist at the top level.
func imageGroup() *command {
	return &command{
		name:  "image",
		short: "Manage images",
		sub: []*command{
			renamed(imagesCmd(), "ls", "list"),
			renamed(rmiCmd(), "rm", "remove"),
			renamed(inspectCmd(), "inspect"),
			renamed(pruneCmd(), "prune"),
			historyCmd(), importCmd(), pullCmd(), pushCmd(), tagCmd(), saveCmd(), loadCmd(),
		},
	}
}

// renamed returns c under another name, as the image group lists
// "images" as "ls".
func renamed(c *command, name string, aliases ...string) *command {
	c.name, c.aliases = name, aliases
	return c
}

func tagCmd() *command {
	return &command{
		name:    "tag",
		args:    "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		short:   "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		minArgs: 2, maxArgs: 2,
		setup: func(*flags) action {
			return func(ctx context.Context, e *env, args []string) error {
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				return rt.Tag(ctx, args[0], args[1])
			}
		},
	}
}

type imagesOpts struct {
	quiet, digests, noTrunc, all bool
}

func imagesCmd() *command {
	return &command{
		name:    "images",
		args:    "[REPOSITORY[:TAG]]",
		short:   "List images",
		maxArgs: 1,
		setup: func(fs *flags) action {
			var o imagesOpts
			fs.Bool(&o.all, "a", "all", "Show all images (hull keeps no intermediate images: no effect)")
			fs.Bool(&o.digests, "", "digests", "Show digests")
			fs.Bool(&o.noTrunc, "", "no-trunc", "Don't truncate output")
			fs.Bool(&o.quiet, "q", "quiet", "Only show image IDs")
			return func(ctx context.Context, e *env, args []string) error {
				return listImages(ctx, e, o, args)
			}
		},
	}
}

// imageRow is one line of "hull images": an image under one repository
// and tag (or digest).
type imageRow struct {
	img               *hull.Image
	repo, tag, digest string
}

func listImages(ctx context.Context, e *env, o imagesOpts, args []string) error {
	rt, err := e.runtime(ctx)
	if err != nil {
		return err
	}
	imgs, err := rt.Images(ctx)
	if err != nil {
		return err
	}
	var rows []imageRow
	for _, img := range imgs {
		for _, r := range imageRows(img, o.digests) {
			if len(args) == 0 || matchRow(r, args[0]) {
				rows = append(rows, r)
			}
		}
	}
	if o.quiet {
		var seen []string
		for _, r := range rows {
			if id := imageID(r.img, o.noTrunc); !slices.Contains(seen, id) {
				seen = append(seen, id)
				fmt.Fprintln(e.stdout, id)
			}
		}
		return nil
	}
	tw := newTable(e.stdout, 10, 1)
	header := "REPOSITORY\tTAG\t"
	if o.digests {
		header += "DIGEST\t"
	}
	fmt.Fprintln(tw, header+"IMAGE ID\tCREATED\tSIZE")
	now := time.Now()
	for _, r := range rows {
		line := r.repo + "\t" + r.tag + "\t"
		if o.digests {
			line += r.digest + "\t"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\n", line, imageID(r.img, o.noTrunc),
			createdSince(r.img.Created(), now), humanSize(r.img.Size(), 3))
	}
	return tw.Flush()
}

// imageRows lays an image out as docker does: a row per tag (times each
// digest of its repository, with --digests), a "<none>" tag row per
// repository known only by digest, and "<none> <none>" for an image with
// neither.
func imageRows(img *hull.Image, withDigests bool) []imageRow {
	var repos []string // in order of first appearance
	tags := map[string][]string{}
	digests := map[string][]string{}
	for _, rt := range img.RepoTags() {
		repo, tag := splitRepoTag(rt)
		if _, ok := tags[repo]; !ok {
			repos = append(repos, repo)
		}
		tags[repo] = append(tags[repo], tag)
	}
	for _, rd := range img.RepoDigests() {
		repo, dgst, _ := strings.Cut(rd, "@")
		if _, ok := tags[repo]; !ok && digests[repo] == nil {
			repos = append(repos, repo)
		}
		digests[repo] = append(digests[repo], dgst)
	}
	if len(repos) == 0 {
		return []imageRow{{img: img, repo: "<none>", tag: "<none>", digest: "<none>"}}
	}
	var rows []imageRow
	for _, repo := range repos {
		ts, ds := tags[repo], digests[repo]
		if len(ts) == 0 {
			ts = []string{"<none>"}
		}
		if !withDigests || len(ds) == 0 {
			ds = []string{"<none>"}
		}
		for _, t := range ts {
			for _, d := range ds {
				rows = append(rows, imageRow{img: img, repo: repo, tag: t, digest: d})
			}
		}
	}
	return rows
}

// splitRepoTag splits "host:5000/a/b:tag" at the tag's colon.
func splitRepoTag(s string) (repo, tag string) {
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		return s[:i], s[i+1:]
	}
	return s, "<none>"
}

// matchRow filters "hull images REPOSITORY[:TAG]"; both parts may hold
// shell patterns ("redis:7*"), as with docker.
func matchRow(r imageRow, pattern string) bool {
	if r.repo == "<none>" {
		return false
	}
	repoPat, tagPat := splitRepoTag(pattern)
	if ok, _ := path.Match(repoPat, r.repo); !ok {
		return false
	}
	if tagPat == "<none>" {
		return true
	}
	ok, _ := path.Match(tagPat, r.tag)
	return ok
}

// imageID is the ID as docker shows it: 12 hex digits, or sha256:... whole.
func imageID(img *hull.Image, noTrunc bool) string {
	if noTrunc {
		return img.ID()
	}
	id := strings.TrimPrefix(img.ID(), "sha256:")
	return id[:min(12, len(id))]
}

func rmiCmd() *command {
	return &command{
		name:    "rmi",
		args:    "IMAGE [IMAGE...]",
		short:   "Remove one or more images",
		minArgs: 1, maxArgs: -1,
		setup: func(fs *flags) action {
			var force bool
			fs.Bool(&force, "f", "force", "Force removal of the image")
			return func(ctx context.Context, e *env, args []string) error {
				return removeImages(ctx, e, force, args)
			}
		},
	}
}

// removeImages removes each image in turn; a failure is reported and the
// next image is tried, and hull exits 1 at the end.
func removeImages(ctx context.Context, e *env, force bool, refs []string) error {
	rt, err := e.runtime(ctx)
	if err != nil {
		return err
	}
	var opts []hull.RemoveOption
	if force {
		opts = append(opts, hull.WithForce())
	}
	failed := false
	for _, ref := range refs {
		rep, err := rt.RemoveImage(ctx, ref, opts...)
		for _, t := range rep.Untagged {
			fmt.Fprintf(e.stdout, "Untagged: %s\n", t)
		}
		for _, d := range rep.Deleted {
			fmt.Fprintf(e.stdout, "Deleted: %s\n", d)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "hull: %v\n", err)
			failed = true
		}
	}
	if failed {
		return &exitError{code: exitFailure}
	}
	return nil
}

func inspectCmd() *command {
	return &command{
		name:    "inspect",
		args:    "IMAGE [IMAGE...]",
		short:   "Display detailed information on images or containers",
		minArgs: 1, maxArgs: -1,
		setup: func(fs *flags) action {
			var format, typ string
			fs.String(&format, "f", "format", "string", "Format output using a Go template ('json' function included)")
			fs.String(&typ, "", "type", "string", "Only inspect objects of the given type (image or container)")
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				if typ != "" && typ != "image" && typ != "container" {
					return usageErrorf(path, "%q is not a valid value for --type", typ)
				}
				var tmpl *template.Template
				if format != "" {
					var err error
					if tmpl, err = parseTemplate(path, format); err != nil {
						return err
					}
				}
				return inspectImages(ctx, e, tmpl, typ, args)
			}
		},
	}
}

// inspectImages prints the found images (a JSON array, or the template
// applied to each) and then an error for each missing one, as docker does.
// Without --type, a name that is no image is looked up among the containers.
func inspectImages(ctx context.Context, e *env, tmpl *template.Template, typ string, refs []string) error {
	rt, err := e.runtime(ctx)
	if err != nil {
		return err
	}
	found := []any{}
	var errs []string
	for _, ref := range refs {
		var img *hull.Image
		err := hull.ErrNotFound
		if typ != "container" {
			img, err = rt.Image(ctx, ref)
		}
		if typ != "image" && (errors.Is(err, hull.ErrNotFound) || errors.Is(err, hull.ErrInvalidReference)) {
			if c, cerr := rt.Container(ctx, ref); cerr == nil {
				in, ierr := containerInspect(ctx, c)
				if ierr == nil {
					found = append(found, in)
					continue
				}
				err = ierr
			}
		}
		switch {
		case errors.Is(err, hull.ErrNotFound), errors.Is(err, hull.ErrInvalidReference):
			errs = append(errs, "Error: No such object: "+ref)
		case err != nil:
			errs = append(errs, "hull: "+err.Error())
		default:
			in, err := img.Inspect(ctx)
			if err != nil {
				errs = append(errs, "hull: "+err.Error())
				continue
			}
			found = append(found, in)
		}
	}
	if err := printInspect(e, tmpl, found); err != nil {
		return err
	}
	for _, msg := range errs {
		fmt.Fprintln(e.stderr, msg)
	}
	if len(errs) > 0 {
		return &exitError{code: exitFailure}
	}
	return nil
}

// printInspect writes objs as an indented JSON array, or tmpl applied to
// each, one per line.
func printInspect[T any](e *env, tmpl *template.Template, objs []T) error {
	var out bytes.Buffer
	if tmpl == nil {
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "    ")
		if err := enc.Encode(objs); err != nil {
			return err
		}
	} else {
		for _, obj := range objs {
			s, err := execTemplate(tmpl, obj)
			if err != nil {
				return err
			}
			out.WriteString(s + "\n")
		}
	}
	_, err := e.stdout.Write(out.Bytes())
	return err
}

func pruneCmd() *command {
	return &command{
		name:  "prune",
		short: "Remove dangling images and the content no image uses",
		setup: func(fs *flags) action {
			var force bool
			fs.Bool(&force, "f", "force", "Do not prompt for confirmation")
			return func(ctx context.Context, e *env, _ []string) error {
				if !force && !confirm(e, "WARNING! This will remove all dangling images.") {
					return nil
				}
				return prune(ctx, e)
			}
		},
	}
}

// confirm asks on stdout and reads the answer from stdin, as docker does;
// anything but y or yes (and end of input) is no.
func confirm(e *env, warning string) bool {
	fmt.Fprintf(e.stdout, "%s\nAre you sure you want to continue? [y/N] ", warning)
	line, _ := bufio.NewReader(e.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	fmt.Fprintln(e.stdout)
	return false
}

func prune(ctx context.Context, e *env) error {
	rt, err := e.runtime(ctx)
	if err != nil {
		return err
	}
	rep, err := rt.Prune(ctx)
	if len(rep.ImagesDeleted) > 0 {
		fmt.Fprintln(e.stdout, "Deleted Images:")
		for _, d := range rep.ImagesDeleted {
			fmt.Fprintf(e.stdout, "deleted: %s\n", d)
		}
		fmt.Fprintln(e.stdout)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Total reclaimed space: %s\n", humanSize(rep.SpaceReclaimed, 4))
	return nil
}
