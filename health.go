package hull

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Healthcheck is a container's health check, Docker's HealthConfig (the
// image's HEALTHCHECK, or WithHealthcheck). Test is the command:
// ["CMD", arg...] runs arg... in the container, ["CMD-SHELL", "cmd"]
// runs /bin/sh -c cmd, ["NONE"] disables the image's check; an empty Test
// keeps the image's. Zero durations and Retries take the image's values,
// else the defaults below, as Docker merges them.
type Healthcheck struct {
	Test []string `json:"Test"`
	// Interval is the time between two checks once the start period is
	// over (or without one). Default: 30s.
	Interval time.Duration `json:"Interval"`
	// Timeout bounds one check: a check still running then is killed and
	// counts as a failure (exit code -1). Default: 30s.
	Timeout time.Duration `json:"Timeout"`
	// StartPeriod is the container's time to start: failures in it do
	// not count towards Retries (a success makes it healthy at once).
	// Default: 0.
	StartPeriod time.Duration `json:"StartPeriod"`
	// StartInterval is the time between two checks during the start
	// period. Default: 5s.
	StartInterval time.Duration `json:"StartInterval"`
	// Retries is how many failures in a row make the container
	// unhealthy. Default: 3.
	Retries int `json:"Retries"`
}

// Docker's defaults for a Healthcheck's zero fields, and how many results
// Inspect keeps and how much output of each.
const (
	defaultHealthInterval      = 30 * time.Second
	defaultHealthTimeout       = 30 * time.Second
	defaultHealthStartInterval = 5 * time.Second
	defaultHealthRetries       = 3
	healthLogEntries           = 5
	healthOutputMax            = 4096
)

// HealthStatus is a container's health, as ContainerInspect.State.Health
// reports it (Docker's names).
type HealthStatus string

// The health statuses.
const (
	HealthStarting  HealthStatus = "starting"  // no check has passed since the start, nor failed Retries times in a row
	HealthHealthy   HealthStatus = "healthy"   // the last check passed
	HealthUnhealthy HealthStatus = "unhealthy" // the last Retries checks failed
)

// HealthState is the health of a container that has a health check:
// its status, the number of checks failed in a row and the last five
// results, oldest first (Docker's State.Health).
type HealthState struct {
	Status        HealthStatus   `json:"Status"`
	FailingStreak int            `json:"FailingStreak"`
	Log           []HealthResult `json:"Log"`
}

// HealthResult is one run of a health check: ExitCode 0 passed, any
// other failed; -1 is a check that could not run or exceeded its Timeout.
// Output is the first 4 KiB of its stdout and stderr.
type HealthResult struct {
	Start    time.Time `json:"Start"`
	End      time.Time `json:"End"`
	ExitCode int       `json:"ExitCode"`
	Output   string    `json:"Output"`
}

// WithHealthcheck sets the container's health check, overriding the
// image's HEALTHCHECK field by field (an empty Test keeps the image's
// command, zero durations its durations); Test ["NONE"] disables the
// image's check. The process that starts the container runs the checks
// as Execs while it runs it (see Container.WaitHealthy). Default: the
// image's HEALTHCHECK, if any.
func WithHealthcheck(h Healthcheck) RunOption {
	return func(c *runConfig) error {
		if err := h.validate(); err != nil {
			return err
		}
		h.Test = slices.Clone(h.Test)
		c.health = &h
		return nil
	}
}

// validate checks a Healthcheck given to WithHealthcheck.
func (h *Healthcheck) validate() error {
	if h.Interval < 0 || h.Timeout < 0 || h.StartPeriod < 0 || h.StartInterval < 0 || h.Retries < 0 {
		return fmt.Errorf("%w: healthcheck: negative duration or retries", ErrInvalidArgument)
	}
	// Docker's minimum: a check every millisecond is a busy loop.
	for _, d := range []time.Duration{h.Interval, h.Timeout, h.StartInterval} {
		if d != 0 && d < time.Millisecond {
			return fmt.Errorf("%w: healthcheck: interval, timeout and start interval must be at least 1ms", ErrInvalidArgument)
		}
	}
	if len(h.Test) == 0 {
		return nil
	}
	switch h.Test[0] {
	case "NONE":
	case "CMD":
		if len(h.Test) < 2 || h.Test[1] == "" {
			return fmt.Errorf("%w: healthcheck: CMD without a command", ErrInvalidArgument)
		}
	case "CMD-SHELL":
		if len(h.Test) != 2 || h.Test[1] == "" {
			return fmt.Errorf("%w: healthcheck: CMD-SHELL wants one command string", ErrInvalidArgument)
		}
	default:
		return fmt.Errorf("%w: healthcheck: test %q: want CMD, CMD-SHELL or NONE first", ErrInvalidArgument, h.Test[0])
	}
	return nil
}

// mergeHealthcheck is the check a container runs: own's fields over the
// image's, as Docker merges them; nil if there is none or it is NONE.
func mergeHealthcheck(image, own *Healthcheck) *Healthcheck {
	var h Healthcheck
	if image != nil {
		h = *image
		h.Test = slices.Clone(image.Test)
	}
	if own != nil {
		if len(own.Test) > 0 {
			h.Test = slices.Clone(own.Test)
		}
		if own.Interval != 0 {
			h.Interval = own.Interval
		}
		if own.Timeout != 0 {
			h.Timeout = own.Timeout
		}
		if own.StartPeriod != 0 {
			h.StartPeriod = own.StartPeriod
		}
		if own.StartInterval != 0 {
			h.StartInterval = own.StartInterval
		}
		if own.Retries != 0 {
			h.Retries = own.Retries
		}
	}
	if len(h.Test) == 0 || h.Test[0] == "NONE" || h.validate() != nil {
		return nil // an image's malformed check is ignored, as Docker's daemon does
	}
	return &h
}

// command is the argv a check runs.
func (h *Healthcheck) command() []string {
	if h.Test[0] == "CMD-SHELL" {
		return []string{"/bin/sh", "-c", h.Test[1]}
	}
	return slices.Clone(h.Test[1:])
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// record adds the result of a check to hs, as Docker does: a pass makes
// the container healthy; a failure counts towards Retries unless the
// container is still starting within its start period, and makes it
// unhealthy after Retries in a row. It reports whether the status changed.
func (hs *HealthState) record(h *Healthcheck, r HealthResult, inStartPeriod bool) bool {
	old := hs.Status
	hs.Log = append(hs.Log, r)
	if n := len(hs.Log); n > healthLogEntries {
		hs.Log = slices.Clone(hs.Log[n-healthLogEntries:])
	}
	retries := h.Retries
	if retries == 0 {
		retries = defaultHealthRetries
	}
	switch {
	case r.ExitCode == 0:
		hs.FailingStreak = 0
		hs.Status = HealthHealthy
	case inStartPeriod && hs.Status == HealthStarting:
		// Failures while starting are not counted.
	default:
		hs.FailingStreak++
		if hs.FailingStreak >= retries {
			hs.Status = HealthUnhealthy
		}
	}
	return hs.Status != old
}

// WaitHealthy blocks until the container's health check has passed
// (HealthHealthy) and returns nil. It fails with an error wrapping
// ErrUnhealthy if the container becomes unhealthy first (or is already),
// with ErrConflict if it exits (or is not running) before it is healthy,
// with ErrInvalidArgument if it has no health check, and with ctx's
// error. It watches the container's state, so it works for a container
// another process runs; the checks themselves run in the process that
// started it.
func (c *Container) WaitHealthy(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := c.snapshot()
		if err != nil {
			return fmt.Errorf("wait healthy %s: %w", shortContainerID(c.id), err)
		}
		if st.Healthcheck == nil {
			return fmt.Errorf("wait healthy %s: %w: container has no health check", shortContainerID(c.id), ErrInvalidArgument)
		}
		if st.Status == StatusRunning && st.Health != nil {
			switch st.Health.Status {
			case HealthHealthy:
				return nil
			case HealthUnhealthy:
				return fmt.Errorf("wait healthy %s: %w (%d checks failed in a row)", shortContainerID(c.id), ErrUnhealthy, st.Health.FailingStreak)
			}
		}
		if st.Status == StatusExited && !st.restartPending() {
			return fmt.Errorf("wait healthy %s: %w: container exited (code %d) before it was healthy", shortContainerID(c.id), ErrConflict, st.ExitCode)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("wait healthy %s: %w", shortContainerID(c.id), ctx.Err())
		}
	}
}

// clone is a deep copy of h (nil for nil).
func (h *Healthcheck) clone() *Healthcheck {
	if h == nil {
		return nil
	}
	cp := *h
	cp.Test = slices.Clone(h.Test)
	return &cp
}

// clone is a deep copy of hs (nil for nil).
func (hs *HealthState) clone() *HealthState {
	if hs == nil {
		return nil
	}
	cp := *hs
	cp.Log = slices.Clone(hs.Log)
	return &cp
}

// logOrNil is hs's log, nil for a nil hs.
func (hs *HealthState) logOrNil() []HealthResult {
	if hs == nil {
		return nil
	}
	return hs.Log
}

// imageHealthcheck is the HEALTHCHECK of an image's config JSON (Docker's
// config.Healthcheck, which OCI's type lacks), nil if it has none or it
// does not parse.
func imageHealthcheck(config []byte) *Healthcheck {
	var c struct {
		Config struct {
			Healthcheck *Healthcheck `json:"Healthcheck"`
		} `json:"config"`
	}
	if json.Unmarshal(config, &c) != nil {
		return nil
	}
	return c.Config.Healthcheck
}

// Healthcheck returns the image's HEALTHCHECK (Docker's config field),
// or nil if it has none.
func (i *Image) Healthcheck() *Healthcheck { return i.health.clone() }

// setRunPolicies records the container's health check (the image's
// merged with WithHealthcheck) and restart policy in st, for Create.
func (st *containerState) setRunPolicies(img *Image, rc *runConfig) error {
	st.Healthcheck = mergeHealthcheck(img.health, rc.health)
	if rc.restart.Name != "" && rc.restart.Name != RestartNo {
		if rc.opts.autoRemove {
			return fmt.Errorf("%w: a restart policy cannot be combined with WithAutoRemove", ErrInvalidArgument)
		}
		st.RestartPolicy = rc.restart
	}
	return nil
}

// supervisedView takes into st, the state this Runtime keeps of a
// Detached container it started, what the container's supervisor
// records on disk: health and restarts.
func (c *Container) supervisedView(st *containerState) {
	disk, err := readState(c.rt.containerDir(c.id))
	if err != nil || disk.Pid != st.Pid {
		return
	}
	st.Health, st.RestartCount, st.Restarting = disk.Health, disk.RestartCount, disk.Restarting
	st.Owner, st.OwnerStart = disk.Owner, disk.OwnerStart
}

// withHealthcheck is config as the store marshals it, with h as Docker's
// config.Healthcheck (OCI's type has no such field); config itself if h
// is nil.
func withHealthcheck(config ocispec.Image, h *Healthcheck) any {
	if h == nil {
		return config
	}
	type runConfig struct {
		ocispec.ImageConfig
		Healthcheck *Healthcheck `json:"Healthcheck,omitempty"`
	}
	return struct {
		ocispec.Image
		Config runConfig `json:"config"` // shadows the embedded one's
	}{config, runConfig{config.Config, h}}
}
