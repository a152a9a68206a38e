package compose

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/hullbox/hull"
)

// Option configures the actions of a Project (Up, Down, Stop, Start,
// Restart, Ps, Logs, Pull, Run). Each option's comment says which calls
// take it; a call given an option it has no use for fails with
// hull.ErrInvalidArgument naming it.
type Option func(*options) error

type options struct {
	given []string // names of the options given, to refuse those a call has no use for

	detached, build, forceRecreate, wait bool
	removeOrphans, removeVolumes, follow bool
	scale                                map[string]int
	services                             []string
	timeout                              *time.Duration
	status                               io.Writer
	removeImages                         string
	tail                                 int
}

func (o *options) use(name string) { o.given = append(o.given, name) }

// parseOptions applies opts for the call op, which takes the options named
// in uses.
func parseOptions(op string, opts []Option, uses ...string) (*options, error) {
	o := &options{tail: -1, status: io.Discard}
	for _, f := range opts {
		if f == nil {
			continue
		}
		if err := f(o); err != nil {
			return nil, fmt.Errorf("compose %s: %w", op, err)
		}
	}
	for _, name := range o.given {
		if !slices.Contains(uses, name) {
			return nil, fmt.Errorf("compose %s: %w: %s does not apply to %s", op, hull.ErrInvalidArgument, name, op)
		}
	}
	return o, nil
}

// WithDetached makes the containers Up starts outlive the process
// (hull.WithDetached): `docker compose up -d`. Down, Stop, Logs from any
// process find them. Up. Default: the containers belong to the process
// that called Up and die with it (or its Runtime's Close).
func WithDetached() Option {
	return func(o *options) error { o.use("WithDetached"); o.detached = true; return nil }
}

// WithBuild builds the images of services that have build: even when the
// image exists (up --build). Up. Default: build only what is missing.
func WithBuild() Option {
	return func(o *options) error { o.use("WithBuild"); o.build = true; return nil }
}

// WithForceRecreate recreates every container, even those whose
// configuration has not changed (up --force-recreate). Up. Default:
// containers whose config hash is unchanged are kept.
func WithForceRecreate() Option {
	return func(o *options) error { o.use("WithForceRecreate"); o.forceRecreate = true; return nil }
}

// WithScale runs n containers of service, over scale: and
// deploy.replicas (up --scale service=n). Up. Default: the file's count, 1
// if it has none.
func WithScale(service string, n int) Option {
	return func(o *options) error {
		o.use("WithScale")
		if n < 0 {
			return fmt.Errorf("%w: WithScale %s=%d: negative", hull.ErrInvalidArgument, service, n)
		}
		if o.scale == nil {
			o.scale = map[string]int{}
		}
		o.scale[service] = n
		return nil
	}
}

// WithWait makes Up return only once every container it started is
// running, and, for one-shot dependencies, completed (up --wait). Up.
// Default: Up returns once the containers are started.
func WithWait() Option {
	return func(o *options) error { o.use("WithWait"); o.wait = true; return nil }
}

// WithRemoveOrphans removes the project's containers whose service is no
// longer in the file (--remove-orphans). Up, Down. Default: orphans are
// reported on WithStatus's writer and left alone.
func WithRemoveOrphans() Option {
	return func(o *options) error { o.use("WithRemoveOrphans"); o.removeOrphans = true; return nil }
}

// WithRemoveVolumes makes Down also remove the project's named volumes
// and the containers' anonymous volumes (down -v). Down. Default: volumes
// are kept.
func WithRemoveVolumes() Option {
	return func(o *options) error { o.use("WithRemoveVolumes"); o.removeVolumes = true; return nil }
}

// WithRemoveImages makes Down remove images: "local" those of services
// without an image: field (built ones), "all" every service's (down
// --rmi). Down. Default: images are kept.
func WithRemoveImages(which string) Option {
	return func(o *options) error {
		o.use("WithRemoveImages")
		if which != "local" && which != "all" {
			return fmt.Errorf("%w: WithRemoveImages %q: want local or all", hull.ErrInvalidArgument, which)
		}
		o.removeImages = which
		return nil
	}
}

// WithServices restricts the call to these services (and, for Up and
// Run, their dependencies). Up, Stop, Start, Restart, Ps, Logs, Pull.
// Default: every service.
func WithServices(names ...string) Option {
	return func(o *options) error { o.use("WithServices"); o.services = append(o.services, names...); return nil }
}

// WithTimeout is how long Stop (and Down, Restart, a recreating Up) waits
// after the stop signal before killing (-t). Up, Down, Stop, Restart.
// Default: each service's stop_grace_period, 10 s if it has none.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error { o.use("WithTimeout"); o.timeout = &d; return nil }
}

// WithStatus reports progress on w, one line per step, as docker compose
// does ("Container app-web-1  Started"). Up, Down, Stop, Start,
// Restart, Pull. Default: nothing is reported.
func WithStatus(w io.Writer) Option {
	return func(o *options) error { o.use("WithStatus"); o.status = w; return nil }
}

// WithFollow makes Logs follow the logs until the context ends (logs -f).
// Logs. Default: what is logged so far.
func WithFollow() Option {
	return func(o *options) error { o.use("WithFollow"); o.follow = true; return nil }
}

// WithTail makes Logs start with the last n lines of each container
// (logs --tail). Logs. Default: every line.
func WithTail(n int) Option {
	return func(o *options) error { o.use("WithTail"); o.tail = n; return nil }
}

// stopTimeout is the timeout to stop a container with.
func (o *options) stopTimeout() time.Duration {
	if o.timeout != nil {
		return *o.timeout
	}
	return -1 // the container's own: stop_grace_period, else 10 s
}

func (o *options) statusf(format string, a ...any) {
	fmt.Fprintf(o.status, format+"\n", a...)
}
