package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hullbox/hull"
)

type historyOpts struct {
	noTrunc, quiet, tags bool
}

func historyCmd() *command {
	return &command{
		name:    "history",
		args:    "IMAGE",
		short:   "Show the history of an image",
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flags) action {
			var o historyOpts
			fs.Bool(&o.noTrunc, "", "no-trunc", "Don't truncate output")
			fs.Bool(&o.quiet, "q", "quiet", "Only show image IDs (with --tags: digests)")
			fs.Bool(&o.tags, "", "tags", "Show the images a local tag has pointed at, oldest first (hull)")
			return func(ctx context.Context, e *env, args []string) error {
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				if o.tags {
					return showTagHistory(ctx, e, rt, o, args[0])
				}
				return showHistory(ctx, e, rt, o, args[0])
			}
		},
	}
}

// historyRow is one line of "hull history".
type historyRow struct {
	id, created, createdBy, size, comment string
}

// showHistory prints docker's history table: newest entry first.
func showHistory(ctx context.Context, e *env, rt *hull.Runtime, o historyOpts, ref string) error {
	img, err := rt.Image(ctx, ref)
	if err != nil {
		return err
	}
	rows := historyRows(img, o.noTrunc, time.Now())
	if o.quiet {
		for _, r := range rows {
			fmt.Fprintln(e.stdout, r.id)
		}
		return nil
	}
	tw := newTable(e.stdout, 10, 1)
	fmt.Fprintln(tw, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.id, r.created, r.createdBy, r.size, r.comment)
	}
	return tw.Flush()
}

// historyRows lays an image's history out as docker does: newest first;
// the entries that made a layer show its size, the others (CMD, ENV ...)
// 0B; the image ID only on the top row, the others being "<missing>" as
// docker shows them for pulled images (hull keeps no parent images).
//
// Unlike docker, SIZE is the layer's blob size as stored (compressed):
// the library gives no unpacked size per layer, only the image's total.
func historyRows(img *hull.Image, noTrunc bool, now time.Time) []historyRow {
	layers := img.Layers()
	var rows []historyRow
	next := 0 // the layer the next non-empty entry made
	for _, h := range img.History() {
		var size int64
		if !h.EmptyLayer && next < len(layers) {
			size = layers[next].Size
			next++
		}
		var created time.Time
		if h.Created != nil {
			created = *h.Created
		}
		by := strings.ReplaceAll(h.CreatedBy, "\t", " ")
		if !noTrunc {
			by = ellipsis(by, 45)
		}
		rows = append(rows, historyRow{
			id:        "<missing>",
			created:   createdSince(created, now),
			createdBy: by,
			size:      humanSize(size, 3),
			comment:   h.Comment,
		})
	}
	slices.Reverse(rows)
	if len(rows) > 0 {
		rows[0].id = imageID(img, noTrunc)
	}
	return rows
}

// ellipsis shortens s to n characters, the last one "…", as docker does.
// It copies nothing when s fits: ps -a calls it for every row.
func ellipsis(s string, n int) string {
	i := 0
	for at := range s {
		if i == n-1 && utf8.RuneCountInString(s[at:]) > 1 {
			return s[:at] + "…"
		}
		i++
	}
	return s
}

// showTagHistory prints the images a local tag has pointed at, oldest
// first, so the last row is the current one. The digests are manifest
// digests, which "hull tag DIGEST TAG" accepts to roll the tag back.
func showTagHistory(ctx context.Context, e *env, rt *hull.Runtime, o historyOpts, ref string) error {
	events, err := rt.TagHistory(ctx, ref)
	if err != nil {
		return err
	}
	if o.quiet {
		for _, ev := range events {
			fmt.Fprintln(e.stdout, ev.Digest)
		}
		return nil
	}
	tw := newTable(e.stdout, 10, 1)
	fmt.Fprintln(tw, "DIGEST\tTAGGED\tIMAGE ID")
	now := time.Now()
	for _, ev := range events {
		id := "<missing>" // removed since
		if img, err := rt.Image(ctx, ev.Digest.String()); err == nil {
			id = imageID(img, o.noTrunc)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", ev.Digest, createdSince(ev.Time, now), id)
	}
	return tw.Flush()
}
