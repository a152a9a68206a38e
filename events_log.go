package hull

import (
	"context"
	"os"
	"time"

	"github.com/hullbox/hull/internal/eventlog"
)

// The events log, <root>/events.log, is internal/eventlog's; these are
// the root's Event-typed calls of it.
const eventsLogName = eventlog.FileName

// eventWriter appends Events to the log (eventlog.Writer).
type eventWriter struct{ w eventlog.Writer }

// append appends ev to the log at path; errors are dropped.
func (w *eventWriter) append(path string, ev Event) {
	w.w.Append(path, eventlog.Record{Time: ev.Time, Type: string(ev.Type), Action: ev.Action, ID: ev.ID, Name: ev.Name,
		Attributes: ev.Attributes})
}

// close closes the log.
func (w *eventWriter) close() { w.w.Close() }

// openEvents opens the log at path for followEvents (eventlog.Open).
func openEvents(path string, since time.Time) (*os.File, error) { return eventlog.Open(path, since) }

// followEvents calls fn with each event of the log that filter keeps
// (eventlog.Follow).
func followEvents(ctx context.Context, f *os.File, path string, since time.Time, filter *eventlog.Filter, fn func(Event) bool) {
	eventlog.Follow(ctx, f, path, since, filter.Until, func(r eventlog.Record) bool {
		if !filter.Match(&r) {
			return true
		}
		return fn(Event{Time: r.Time, Type: EventType(r.Type), Action: r.Action, ID: r.ID, Name: r.Name, Attributes: r.Attributes})
	})
}
