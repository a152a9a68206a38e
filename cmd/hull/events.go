package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hullbox/hull"
)

func eventsCmd() *command {
	return &command{
		name: "events", maxArgs: 0,
		short: "Get real time events from every process using the root",
		setup: func(fs *flags) action {
			var since, until string
			var filters []string
			fs.String(&since, "", "since", "string", "Show all events created since timestamp")
			fs.String(&until, "", "until", "string", "Stream events until this timestamp")
			fs.Strings(&filters, "f", "filter", "filter", "Filter output based on conditions provided (type, event, container, image)")
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				now := time.Now()
				var opts []hull.EventsOption
				for _, f := range []struct {
					val  string
					name string
					opt  func(time.Time) hull.EventsOption
				}{{since, "since", hull.WithEventsSince}, {until, "until", hull.WithEventsUntil}} {
					if f.val == "" {
						continue
					}
					t, err := parseSince(f.val, now)
					if err != nil {
						return usageErrorf(path, "invalid --%s: %v", f.name, err)
					}
					opts = append(opts, f.opt(t))
				}
				for _, f := range filters {
					k, v, ok := strings.Cut(f, "=")
					if !ok {
						return usageErrorf(path, "bad format of filter (expected name=value): %s", f)
					}
					opts = append(opts, hull.WithEventsFilter(k, v))
				}
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				ch, err := rt.Events(ctx, opts...)
				if err != nil {
					return usageErrorf(path, "%v", err)
				}
				for ev := range ch {
					fmt.Fprintln(e.stdout, formatEvent(ev))
				}
				// Ctrl-C ends the stream: not an error.
				return nil
			}
		},
	}
}

// formatEvent prints an event as docker events does:
// "TIME TYPE ACTION ID (key=value, ...)".
func formatEvent(ev hull.Event) string {
	var attrs []string
	for _, k := range slices.Sorted(maps.Keys(ev.Attributes)) {
		attrs = append(attrs, k+"="+ev.Attributes[k])
	}
	s := ev.Time.Local().Format(time.RFC3339Nano) + " " + string(ev.Type) + " " + ev.Action + " " + ev.ID
	if len(attrs) > 0 {
		s += " (" + strings.Join(attrs, ", ") + ")"
	} else if ev.Name != "" {
		s += " (name=" + ev.Name + ")"
	}
	return s
}
