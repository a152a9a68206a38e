package hull

import (
	"context"
	"maps"
	"strconv"
	"sync"
	"time"
)

// Event types.
const (
	EventContainer = "container"
	EventImage     = "image"
)

// Event is something that happened to a container or an image, as `docker events`
// reports it.
//
// Container actions: "create", "start", "die" (Attributes["exitCode"], and "signal" when
// one ended it), "oom" (sent before "die" when the kernel's OOM killer ended it),
// "pause", "unpause", "destroy", "commit" (Attributes["imageID"]). Image actions: "pull",
// "import", "tag", "untag", "delete". Attributes of container events always hold "name"
// and "image".
type Event struct {
	Time   time.Time
	Type   string // EventContainer or EventImage
	Action string
	// ID is the container ID, or the image ID (its config digest).
	ID string
	// Name is the container's name, or the image reference the action was about
	// ("redis:7"), when there is one.
	Name       string
	Attributes map[string]string
}

// eventBuffer is how many events a subscriber may fall behind before it loses some.
const eventBuffer = 256

// eventHub fans events out to the subscribers of one Runtime.
type eventHub struct {
	mu     sync.Mutex
	subs   map[chan Event]struct{}
	closed bool
}

// Events returns a channel of the events of this Runtime from now on, until ctx ends or
// the Runtime is closed; then the channel is closed.
//
// Events are those of this process's Runtime only: actions taken by other processes on
// the same root are not seen (hull has no daemon to gather them). Delivery never blocks
// the action: a subscriber that falls more than 256 events behind loses the newer ones,
// so read the channel promptly.
func (rt *Runtime) Events(ctx context.Context) <-chan Event {
	ch := make(chan Event, eventBuffer)
	h := &rt.events
	h.mu.Lock()
	if h.closed || ctx.Err() != nil {
		h.mu.Unlock()
		close(ch)
		return ch
	}
	if h.subs == nil {
		h.subs = map[chan Event]struct{}{}
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	})
	return ch
}

// emit sends an event to every subscriber that has room for it.
func (h *eventHub) emit(typ, action, id, name string, attrs map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) == 0 {
		return
	}
	ev := Event{Time: time.Now().UTC(), Type: typ, Action: action, ID: id, Name: name, Attributes: attrs}
	for ch := range h.subs {
		e := ev
		e.Attributes = maps.Clone(attrs)
		select {
		case ch <- e:
		default: // a slow subscriber loses the event rather than block the action
		}
	}
}

// close ends every subscription. Runtime.Close calls it.
func (h *eventHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		close(ch)
	}
	h.subs = nil
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
	if exit.OOMKilled {
		c.event("oom", nil)
	}
	attrs := map[string]string{"exitCode": strconv.Itoa(exit.Code)}
	if exit.Signal != 0 {
		attrs["signal"] = strconv.Itoa(int(exit.Signal))
	}
	c.event("die", attrs)
}
