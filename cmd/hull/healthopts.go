package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/hullbox/hull"
)

// healthFlags are run's and create's --restart and --health-* flags
// (docker's).
type healthFlags struct {
	restart                                       string
	cmd, interval, timeout, period, startInterval string
	retries                                       string
	none                                          bool
}

func (f *healthFlags) register(fs *flags) {
	fs.String(&f.restart, "", "restart", "string", "Restart policy to apply when a container exits (no, on-failure[:max-retries], always, unless-stopped)")
	fs.String(&f.cmd, "", "health-cmd", "string", "Command to run to check health")
	fs.String(&f.interval, "", "health-interval", "duration", "Time between running the check (ms|s|m|h) (default 0s)")
	fs.String(&f.timeout, "", "health-timeout", "duration", "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	fs.String(&f.period, "", "health-start-period", "duration", "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	fs.String(&f.startInterval, "", "health-start-interval", "duration", "Time between running the check during the start period (ms|s|m|h) (default 0s)")
	fs.String(&f.retries, "", "health-retries", "int", "Consecutive failures needed to report unhealthy")
	fs.Bool(&f.none, "", "no-healthcheck", "Disable any container-specified HEALTHCHECK")
}

// options turns the flags into RunOptions, as docker run does: the
// health flags override the image's HEALTHCHECK field by field.
func (f *healthFlags) options(path string) ([]hull.RunOption, error) {
	var opts []hull.RunOption
	if f.restart != "" {
		name, max, hasMax := strings.Cut(f.restart, ":")
		p := hull.RestartPolicy{Name: name}
		if hasMax {
			n, err := strconv.Atoi(max)
			if err != nil || name != hull.RestartOnFailure {
				return nil, usageErrorf(path, "invalid restart policy %q: a maximum retry count is an integer, for on-failure only", f.restart)
			}
			p.MaximumRetryCount = n
		}
		opts = append(opts, hull.WithRestartPolicy(p))
	}
	var h hull.Healthcheck
	set := false
	for _, d := range []struct {
		s, flag string
		p       *time.Duration
	}{
		{f.interval, "health-interval", &h.Interval}, {f.timeout, "health-timeout", &h.Timeout},
		{f.period, "health-start-period", &h.StartPeriod}, {f.startInterval, "health-start-interval", &h.StartInterval},
	} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil || v < 0 {
			return nil, usageErrorf(path, "invalid argument %q for \"--%s\" flag", d.s, d.flag)
		}
		*d.p, set = v, true
	}
	if f.retries != "" {
		n, err := strconv.Atoi(f.retries)
		if err != nil || n < 0 {
			return nil, usageErrorf(path, "invalid argument %q for \"--health-retries\" flag", f.retries)
		}
		h.Retries, set = n, true
	}
	if f.cmd != "" {
		h.Test, set = []string{"CMD-SHELL", f.cmd}, true
	}
	if f.none {
		if set {
			return nil, usageErrorf(path, "--no-healthcheck conflicts with --health-* options")
		}
		h.Test, set = []string{"NONE"}, true
	}
	if set {
		opts = append(opts, hull.WithHealthcheck(h))
	}
	return opts, nil
}

// healthText is what ps adds to a running container's STATUS, as docker:
// " (healthy)", " (unhealthy)", " (health: starting)".
func healthText(h *hull.HealthState) string {
	switch {
	case h == nil:
		return ""
	case h.Status == hull.HealthStarting:
		return " (health: starting)"
	}
	return " (" + string(h.Status) + ")"
}
