package eventlog

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrInvalidFilter is wrapped by Filter.Add's refusals.
var ErrInvalidFilter = errors.New("invalid events filter")

// Filter selects records as docker events --filter does: by "type"
// (container, image, network), "event" (the action), "container" (ID, ID prefix
// or name) and "image" (for container events the image they run, for
// image events the reference or ID). Values of one key are alternatives;
// different keys must all match. The zero Filter keeps every record.
type Filter struct {
	// Until, if set, drops the records after it.
	Until time.Time
	keys  map[string][]string
}

// Add adds value as an alternative for key.
func (f *Filter) Add(key, value string) error {
	switch key {
	case "type", "event", "container", "image":
	default:
		return fmt.Errorf("%w %q: want type, event, container or image", ErrInvalidFilter, key)
	}
	if value == "" {
		return fmt.Errorf("%w: %s has no value", ErrInvalidFilter, key)
	}
	if f.keys == nil {
		f.keys = map[string][]string{}
	}
	f.keys[key] = append(f.keys[key], value)
	return nil
}

// Match reports whether r passes the filter.
func (f *Filter) Match(r *Record) bool {
	for key, vals := range f.keys {
		if !slices.ContainsFunc(vals, func(v string) bool { return matchKey(r, key, v) }) {
			return false
		}
	}
	return f.Until.IsZero() || !r.Time.After(f.Until)
}

func matchKey(r *Record, key, v string) bool {
	switch key {
	case "type":
		return r.Type == v
	case "event":
		return r.Action == v
	case "container":
		return r.Type == "container" && (r.Name == v || strings.HasPrefix(r.ID, v))
	case "image":
		if r.Type == "container" {
			return r.Attributes["image"] == v
		}
		return r.Name == v || r.ID == v || strings.TrimPrefix(r.ID, "sha256:") == v
	}
	return false
}
