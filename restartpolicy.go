package hull

import (
	"fmt"
	"time"
)

// RestartPolicy says whether a container whose process exits is started
// again, as Docker's --restart: Name is RestartNo (the default),
// RestartOnFailure (a non-zero exit, at most MaximumRetryCount times if
// that is not 0), RestartAlways or RestartUnlessStopped.
type RestartPolicy struct {
	Name              string `json:"Name"`
	MaximumRetryCount int    `json:"MaximumRetryCount"`
}

// The restart policies' names (Docker's).
const (
	RestartNo            = "no"
	RestartOnFailure     = "on-failure"
	RestartAlways        = "always"
	RestartUnlessStopped = "unless-stopped"
)

// Docker's backoff between restarts: the first waits 100 ms, each next one
// twice as long, up to a minute; a run of 10 s or more starts it again.
const (
	restartFirstDelay = 100 * time.Millisecond
	restartMaxDelay   = time.Minute
	restartResetAfter = 10 * time.Second
)

// WithRestartPolicy sets the container's restart policy (docker run
// --restart). The process that runs the container applies it while it
// runs: after each exit the policy allows, it starts the container again
// after Docker's backoff (100 ms, doubled each restart up to a minute,
// back to 100 ms after a run of 10 s or more), emitting "die" then
// "start", and counts the restarts (ContainerInspect.RestartCount). Stop,
// Kill and Remove are never undone by a restart; Start starts the count
// again. It cannot be combined with WithAutoRemove. Default: RestartNo.
func WithRestartPolicy(p RestartPolicy) RunOption {
	return func(c *runConfig) error {
		switch p.Name {
		case "", RestartNo, RestartAlways, RestartUnlessStopped:
			if p.MaximumRetryCount != 0 {
				return fmt.Errorf("%w: restart policy %q: a maximum retry count is only for %q", ErrInvalidArgument, p.Name, RestartOnFailure)
			}
		case RestartOnFailure:
			if p.MaximumRetryCount < 0 {
				return fmt.Errorf("%w: restart policy: negative maximum retry count", ErrInvalidArgument)
			}
		default:
			return fmt.Errorf("%w: restart policy %q: want no, on-failure, always or unless-stopped", ErrInvalidArgument, p.Name)
		}
		if p.Name == "" {
			p.Name = RestartNo
		}
		c.restart = p
		return nil
	}
}

// restarts reports whether a container under policy p, which has been
// restarted count times by it, is to be restarted after exiting with
// code. A container stopped by the user is never restarted (the callers
// check that first).
func (p RestartPolicy) restarts(code, count int) bool {
	switch p.Name {
	case RestartAlways, RestartUnlessStopped:
		return true
	case RestartOnFailure:
		return code != 0 && (p.MaximumRetryCount == 0 || count < p.MaximumRetryCount)
	}
	return false
}

// nextRestartDelay is the backoff before a restart, after prev (0 for
// none yet) and a run of ran.
func nextRestartDelay(prev, ran time.Duration) time.Duration {
	switch {
	case ran >= restartResetAfter || prev == 0:
		return restartFirstDelay
	case prev*2 > restartMaxDelay:
		return restartMaxDelay
	}
	return prev * 2
}

// restartPending reports whether the container has exited and its owner,
// still alive, will start it again (its policy's backoff).
func (st *containerState) restartPending() bool {
	return st.Restarting && st.ownerAlive()
}

// restarter is what a Runtime keeps, under the Container's mu, for the
// restarts of a container it runs by its restart policy.
type restarter struct {
	delay    time.Duration // the last backoff; 0 before the first
	byPolicy bool          // the Start under way is the policy's: respawn counts it
	cancel   chan struct{} // closed to call off the restart waiting out its backoff; nil if none
	done     chan struct{} // closed once that restart has returned
}

// supervised reports whether a run of the container needs a supervisor
// (restartpolicy_supervisor_linux.go): a Detached one with a health check
// or a restart policy.
func (st *containerState) supervised() bool {
	return st.Detached && (st.Healthcheck != nil || st.RestartPolicy.Name != "" && st.RestartPolicy.Name != RestartNo)
}
