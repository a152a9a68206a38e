package hull

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hullbox/hull/internal/eventlog"
	"github.com/hullbox/hull/internal/initproc"
)

// EventType is what an Event is about (Docker's Type).
type EventType string

// Event types.
const (
	EventContainer EventType = "container"
	EventImage     EventType = "image"
	EventNetwork   EventType = "network"
)

// Event is something that happened to a container, an image or a network, as `docker events`
// reports it.
//
// Container actions: "create", "start", "die" (Attributes["exitCode"], and "signal" when
// one ended it), "oom" (sent before "die" when the kernel's OOM killer ended it),
// "pause", "unpause", "kill" (Attributes["signal"]), "restart", "destroy", "commit"
// (Attributes["imageID"]), "health_status: healthy" and "health_status: unhealthy"
// (each change of a health check's verdict; a restart policy's restarts are "die"
// then "start"). Image actions: "pull",
// "import", "tag", "untag", "delete". Network actions: "create", "destroy" (ID is the
// network's; Attributes "name", "type" and, when the host's firewall got rules for it,
// NetworkOptionFirewall and NetworkOptionFirewallWarning). Attributes of container
// events always hold "name" and "image".
type Event struct {
	Time   time.Time // when it happened
	Type   EventType // EventContainer, EventImage or EventNetwork
	Action string    // "create", "start", "die", "pull" ... (above)
	// ID is the container ID, the image ID (its config digest) or the
	// network ID.
	ID string
	// Name is the container's or network's name, or the image reference the
	// action was about ("redis:7"), when there is one.
	Name       string
	Attributes map[string]string // per action, above
}

// eventBuffer is how many events a subscriber's channel holds.
const eventBuffer = 256

// eventHub is a Runtime's part for events: where the root's events log
// is, and the subscriptions to close with the Runtime.
type eventHub struct {
	path   string      // <root>/events.log: events_log.go
	w      eventWriter // appends to it
	mu     sync.Mutex
	subs   map[chan Event]context.CancelFunc
	closed bool
}

// EventsOption configures Runtime.Events.
type EventsOption func(*eventsConfig) error

type eventsConfig struct {
	since  time.Time
	filter eventlog.Filter // WithEventsFilter, WithEventsUntil
}

// WithEventsSince starts with the events logged at or after t (the log
// keeps the last 1-2 MiB of events). Default: only events from now on.
func WithEventsSince(t time.Time) EventsOption {
	return func(c *eventsConfig) error { c.since = t; return nil }
}

// WithEventsUntil ends the subscription at t: the channel is closed then
// (at once, after the older events, if t is past). Default: until ctx
// ends or the Runtime is closed.
func WithEventsUntil(t time.Time) EventsOption {
	return func(c *eventsConfig) error { c.filter.Until = t; return nil }
}

// WithEventsFilter keeps the events that match, like docker events
// --filter: key is "type" (container, image, network), "event" (the action),
// "container" (ID, ID prefix or name) or "image" (for container events
// the image they run, for image events the reference or ID). Values of
// one key are alternatives; different keys must all match. Default: every
// event.
func WithEventsFilter(key, value string) EventsOption {
	return func(c *eventsConfig) error {
		return alsoIs(c.filter.Add(key, value), eventlog.ErrInvalidFilter, ErrInvalidArgument)
	}
}

// Events returns a channel of the events of every process that uses this
// Runtime's root: each Runtime appends its events to <root>/events.log
// and subscribers follow it (hull has no daemon to gather them). The
// channel is closed when ctx ends, WithEventsUntil's time comes or the
// Runtime is closed. A subscriber that does not read holds no one up: its
// events wait in the log (of which the last 1-2 MiB are kept), and arrive
// at most a few tens of milliseconds after they happened.
//
// It fails with ErrInvalidArgument on a bad option.
func (rt *Runtime) Events(ctx context.Context, opts ...EventsOption) (<-chan Event, error) {
	var cfg eventsConfig
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if until := cfg.filter.Until; !until.IsZero() && !cfg.since.IsZero() && until.Before(cfg.since) {
		return nil, fmt.Errorf("%w: events until %s is before since %s", ErrInvalidArgument, until, cfg.since)
	}
	ch := make(chan Event, eventBuffer)
	h := &rt.events
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || ctx.Err() != nil {
		close(ch)
		return ch, nil
	}
	f, err := openEvents(h.path, cfg.since)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	if h.subs == nil {
		h.subs = map[chan Event]context.CancelFunc{}
	}
	h.subs[ch] = cancel
	go func() {
		followEvents(sctx, f, h.path, cfg.since, &cfg.filter, func(ev Event) bool {
			select {
			case ch <- ev:
				return true
			case <-sctx.Done():
				return false
			}
		})
		cancel()
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
		close(ch)
	}()
	return ch, nil
}

// emit records an event in the root's events log.
func (h *eventHub) emit(typ EventType, action, id, name string, attrs map[string]string) {
	h.w.append(h.path, Event{Time: time.Now().UTC(), Type: typ, Action: action, ID: id, Name: name, Attributes: maps.Clone(attrs)})
}

// close ends every subscription. Runtime.Close calls it.
func (h *eventHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, cancel := range h.subs {
		cancel()
	}
	h.w.close()
}

// event emits a container event for c.
func (c *Container) event(action string, attrs map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eventLocked(action, attrs)
}

// eventLocked is event for a caller that holds c.mu.
func (c *Container) eventLocked(action string, attrs map[string]string) {
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs["name"], attrs["image"] = c.st.Name, c.st.Image
	c.rt.events.emit(EventContainer, action, c.id, c.st.Name, attrs)
}

// emitExit emits "oom" (when the OOM killer ended the container) and "die".
func (c *Container) emitExit(exit ExitStatus) {
	c.mu.Lock()
	detached := c.st.Detached
	c.mu.Unlock()
	if detached {
		if _, err := os.Stat(filepath.Join(c.rt.containerDir(c.id), initproc.ExitName)); err == nil {
			return // its init logged "oom" and "die" when it wrote exit.json
		}
	}
	if exit.OOMKilled {
		c.event("oom", nil)
	}
	attrs := map[string]string{"exitCode": strconv.Itoa(exit.ExitCode)}
	if exit.Signal != 0 {
		attrs["signal"] = strconv.Itoa(int(exit.Signal))
	}
	c.event("die", attrs)
}
