package hull

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// ContainersOption selects containers in Runtime.Containers.
type ContainersOption func(*containersConfig) error

type containersConfig struct {
	all    bool
	match  []func(*containerState) bool
	status bool // a status filter was given: it replaces the running-only default
}

// WithAllContainers lists every container, whatever its status, like
// `docker ps -a`. Default: running (and paused) containers only, like
// `docker ps`.
func WithAllContainers() ContainersOption {
	return func(f *containersConfig) error { f.all = true; return nil }
}

// WithFilterName keeps the containers whose name is name.
func WithFilterName(name string) ContainersOption {
	return func(f *containersConfig) error {
		f.match = append(f.match, func(st *containerState) bool { return st.Name == name })
		return nil
	}
}

// WithFilterStatus keeps the containers whose status is one of statuses
// (StatusCreated, StatusRunning, StatusPaused, StatusExited); it implies
// WithAllContainers for the other statuses.
func WithFilterStatus(statuses ...Status) ContainersOption {
	return func(f *containersConfig) error {
		f.status = true
		f.match = append(f.match, func(st *containerState) bool { return slices.Contains(statuses, st.Status) })
		return nil
	}
}

func (f *containersConfig) keep(st *containerState) bool {
	if !f.all && !f.status && st.Status != StatusRunning && st.Status != StatusPaused {
		return false
	}
	for _, m := range f.match {
		if !m(st) {
			return false
		}
	}
	return true
}

// WithFilterLabel keeps the containers that have the label key, with the
// value value unless value is "".
func WithFilterLabel(key, value string) ContainersOption {
	return func(f *containersConfig) error {
		f.match = append(f.match, func(st *containerState) bool {
			v, ok := st.Labels[key]
			return ok && (value == "" || v == value)
		})
		return nil
	}
}

// containerLabels merges the image's labels and the container's.
func containerLabels(image, own map[string]string) map[string]string {
	if len(image)+len(own) == 0 {
		return nil
	}
	out := maps.Clone(image)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, own)
	return out
}

func cloneLabels(m map[string]string) map[string]string { return maps.Clone(m) }

// ContainerPruneReport is what PruneContainers removed.
type ContainerPruneReport struct {
	ContainersDeleted []string // IDs, most recently created first
}

// PruneContainers removes every stopped container of the root, exited or
// created and never started, as `docker container prune` does (and the
// first step of `docker system prune`), and reports their IDs. Running
// and paused containers stay; one that a Start in another process
// launches meanwhile stays too.
func (rt *Runtime) PruneContainers(ctx context.Context) (ContainerPruneReport, error) {
	var rep ContainerPruneReport
	list, err := rt.Containers(ctx, WithFilterStatus(StatusExited, StatusCreated))
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, c := range list {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		err := c.Remove(ctx)
		switch {
		case err == nil:
			rep.ContainersDeleted = append(rep.ContainersDeleted, c.ID())
		case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
		default:
			errs = append(errs, fmt.Errorf("prune container %s: %w", shortContainerID(c.ID()), err))
		}
	}
	return rep, errors.Join(errs...)
}
