package compose

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/hullbox/hull"
)

// healthOptions translates healthcheck: to hull.WithHealthcheck.
func (p *Project) healthOptions(sp *serviceSpec, s *types.ServiceConfig) error {
	h := s.HealthCheck
	if h == nil {
		return nil
	}
	if h.Disable {
		sp.opts = append(sp.opts, hull.WithHealthcheck(hull.Healthcheck{Test: []string{"NONE"}}))
		return nil
	}
	hc := hull.Healthcheck{Test: h.Test}
	dur := func(d *types.Duration) time.Duration {
		if d == nil {
			return 0
		}
		return time.Duration(*d)
	}
	hc.Interval, hc.Timeout = dur(h.Interval), dur(h.Timeout)
	hc.StartPeriod, hc.StartInterval = dur(h.StartPeriod), dur(h.StartInterval)
	if h.Retries != nil {
		hc.Retries = int(*h.Retries)
	}
	sp.opts = append(sp.opts, hull.WithHealthcheck(hc))
	return nil
}

// restartOptions translates restart: (or deploy.restart_policy) to
// hull.WithRestartPolicy.
func (p *Project) restartOptions(sp *serviceSpec, s *types.ServiceConfig) error {
	var rp hull.RestartPolicy
	field := "restart"
	switch r := s.Restart; {
	case r == "" || r == types.RestartPolicyNo:
	case r == types.RestartPolicyAlways, r == types.RestartPolicyUnlessStopped:
		rp.Name = r
	case r == types.RestartPolicyOnFailure || strings.HasPrefix(r, types.RestartPolicyOnFailure+":"):
		rp.Name = hull.RestartOnFailure
		if _, n, ok := strings.Cut(r, ":"); ok {
			max, err := strconv.Atoi(n)
			if err != nil || max < 0 {
				return p.invalid(s.Name, field, fmt.Errorf("bad retry count in %q", r))
			}
			rp.MaximumRetryCount = max
		}
	default:
		return p.invalid(s.Name, field, fmt.Errorf("%q: want no, always, unless-stopped or on-failure[:N]", r))
	}
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		field = "deploy.restart_policy"
		d := s.Deploy.RestartPolicy
		switch d.Condition {
		case "none":
			rp = hull.RestartPolicy{}
		case "", "any":
			rp = hull.RestartPolicy{Name: hull.RestartAlways}
		case "on-failure":
			rp = hull.RestartPolicy{Name: hull.RestartOnFailure}
		default:
			return p.invalid(s.Name, field+".condition", fmt.Errorf("%q: want none, on-failure or any", d.Condition))
		}
		if d.MaxAttempts != nil {
			if rp.Name != hull.RestartOnFailure {
				return p.unsupported(s.Name, field+".max_attempts")
			}
			rp.MaximumRetryCount = int(*d.MaxAttempts)
		}
		if d.Delay != nil {
			return p.unsupported(s.Name, field+".delay")
		}
		if d.Window != nil {
			return p.unsupported(s.Name, field+".window")
		}
	}
	if rp.Name != "" {
		sp.opts = append(sp.opts, hull.WithRestartPolicy(rp))
	}
	return nil
}

// waitHealthy waits until every container of dep is healthy, for
// depends_on: condition: service_healthy. A dependency without a
// healthcheck (its own or its image's) is an error.
func (u *upRun) waitHealthy(ctx context.Context, name, dep string) error {
	u.mu.Lock()
	cs := u.running[dep]
	u.mu.Unlock()
	for _, c := range cs {
		if err := c.WaitHealthy(ctx); err != nil {
			return u.p.invalid(name, "depends_on."+dep, fmt.Errorf("dependency %s: %w", c.Name(), err))
		}
	}
	return nil
}
