package hulltest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull"
)

// DefaultWaitTimeout bounds each strategy given to WaitFor or
// Strategy.Wait that has no Within of its own.
const DefaultWaitTimeout = 60 * time.Second

// errorLogLines is how many log lines a WaitError shows.
const errorLogLines = 20

// A Strategy is a condition on a running container that WaitFor waits for:
// ForPort, ForLog, ForHTTP, ForExec, or several of them (ForAll, ForAny).
// Strategies are values: make them once, use them for many containers.
type Strategy struct {
	desc    string
	timeout time.Duration
	run     func(ctx context.Context, c *hull.Container) error
}

// String describes the strategy as its errors name it, e.g.
// `log "ready" (1 time)`.
func (s Strategy) String() string { return s.desc }

// Within bounds the strategy to d (still within the test's deadline),
// instead of DefaultWaitTimeout.
func (s Strategy) Within(d time.Duration) Strategy {
	inner := s.run
	s.timeout = d
	s.run = func(ctx context.Context, c *hull.Container) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return inner(ctx, c)
	}
	return s
}

// WaitError is why a wait failed: which strategy, after how long, the last
// thing its check saw, and the container's last log lines.
type WaitError struct {
	// Wait is the strategy that failed (Strategy.String).
	Wait string
	// Container is the container's name.
	Container string
	// Err is why waiting stopped: context.DeadlineExceeded when the time
	// was up, or the container's exit.
	Err error
	// Last is what the last check found ("connection refused",
	// "status 503"), or nil.
	Last error
	// Waited is how long the wait took.
	Waited time.Duration
	// Logs are the container's last log lines (up to 20), both streams.
	Logs []string
}

func (e *WaitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wait for %s", e.Wait)
	if e.Container != "" {
		fmt.Fprintf(&b, " on container %s", e.Container)
	}
	if e.Waited > 0 {
		fmt.Fprintf(&b, " failed after %v", e.Waited.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if e.Last != nil {
		fmt.Fprintf(&b, "; last check: %v", e.Last)
	}
	if e.Container != "" {
		fmt.Fprintf(&b, "\nlast %d log lines:\n%s", len(e.Logs), indent(e.Logs))
	}
	return b.String()
}

// Unwrap returns Err.
func (e *WaitError) Unwrap() error { return e.Err }

// WaitFor waits for each strategy in turn, each within its Within or
// DefaultWaitTimeout and all within the test's deadline (minus a moment
// to report), and fails the test with a *WaitError's message if one does
// not come true.
func WaitFor(t testing.TB, c *hull.Container, strategies ...Strategy) {
	t.Helper()
	ctx := testContext(t)
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := dt.Deadline(); ok {
			grace := min(time.Until(dl)/10, 5*time.Second)
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-grace))
			defer cancel()
		}
	}
	for _, s := range strategies {
		if err := s.Wait(ctx, c); err != nil {
			t.Fatalf("hulltest: %v", err)
		}
	}
}

// Wait waits until the strategy holds for c, within ctx and the strategy's
// Within (DefaultWaitTimeout if none). Its error is a *WaitError.
func (s Strategy) Wait(ctx context.Context, c *hull.Container) error {
	start := time.Now()
	run := s.run
	if s.timeout == 0 {
		run = s.Within(DefaultWaitTimeout).run
	}
	err := run(ctx, c)
	if err == nil {
		return nil
	}
	var we *WaitError
	if !errors.As(err, &we) {
		we = &WaitError{Wait: s.desc, Err: err}
	}
	we.Container = c.Name()
	we.Waited = time.Since(start)
	lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	we.Logs, _ = lastLines(lctx, c, errorLogLines)
	return we
}

// stopError is a check's failure that waiting cannot mend (a bad port
// spec): the wait ends at once.
type stopError struct{ error }

// poll makes a strategy of check, called until it returns nil. It stops
// early when check returns a stopError or the container is no longer
// running (after one last check: a log line can be the last thing a
// container does).
func poll(desc string, check func(ctx context.Context, c *hull.Container) error) Strategy {
	return Strategy{desc: desc, run: func(ctx context.Context, c *hull.Container) error {
		delay := 10 * time.Millisecond
		for {
			err := check(ctx, c)
			if err == nil {
				return nil
			}
			if in, ierr := c.Inspect(ctx); ierr == nil && !in.State.Running {
				if err = check(ctx, c); err == nil {
					return nil
				}
				return &WaitError{Wait: desc, Err: fmt.Errorf("container exited with code %d", in.State.ExitCode), Last: err}
			}
			var stop stopError
			if errors.As(err, &stop) {
				return &WaitError{Wait: desc, Err: stop.error}
			}
			select {
			case <-ctx.Done():
				return &WaitError{Wait: desc, Err: ctx.Err(), Last: err}
			case <-time.After(delay):
			}
			delay = min(2*delay, 250*time.Millisecond)
		}
	}}
}

// ForPort waits until a TCP connection to the container's port ("5432/tcp"
// or "5432") succeeds: through its published port (Endpoint) if it has
// one, else to the container's address on its first network.
func ForPort(port string) Strategy {
	return poll("port "+port, func(ctx context.Context, c *hull.Container) error {
		num, proto, err := parsePort(port)
		if err != nil {
			return stopError{err}
		}
		if proto != "tcp" {
			return stopError{fmt.Errorf("ForPort checks TCP ports, not %s", port)}
		}
		addr, err := endpoint(ctx, c, port)
		if err != nil {
			// Not a stopError: a container that is exiting has no
			// address any more but may not read as exited yet.
			in, ierr := c.Inspect(ctx)
			if ierr != nil || in.NetworkSettings.IPAddress == "" {
				return fmt.Errorf("%w, and the container has no address", err)
			}
			addr = net.JoinHostPort(in.NetworkSettings.IPAddress, fmt.Sprint(num))
		}
		d := net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

// ForLog waits until a line of the container's output (stdout or stderr)
// matches the regular expression expr.
func ForLog(expr string) Strategy {
	return ForLogCount(expr, 1)
}

// ForLogCount waits until n lines of the container's output match expr
// (a database that restarts once during its setup prints "ready" twice).
func ForLogCount(expr string, n int) Strategy {
	re, rerr := regexp.Compile(expr)
	desc := fmt.Sprintf("log %q", expr)
	if n != 1 {
		desc += fmt.Sprintf(" (%d times)", n)
	}
	return poll(desc, func(ctx context.Context, c *hull.Container) error {
		if rerr != nil {
			return stopError{rerr}
		}
		var w lockedBuffer
		if err := c.Logs(ctx, hull.WithLogsStdout(&w), hull.WithLogsStderr(&w)); err != nil {
			return err
		}
		seen := 0
		for _, line := range strings.Split(w.String(), "\n") {
			if re.MatchString(line) {
				seen++
			}
		}
		if seen < n {
			return fmt.Errorf("%d of %d matching lines", seen, n)
		}
		return nil
	})
}

// ForHTTP waits until a GET of path on the container's published port
// (see Endpoint) answers with status.
func ForHTTP(port, path string, status int) Strategy {
	client := &http.Client{Timeout: 2 * time.Second}
	return poll(fmt.Sprintf("HTTP %d from GET %s on %s", status, path, port), func(ctx context.Context, c *hull.Container) error {
		addr, err := endpoint(ctx, c, port)
		if err != nil {
			return stopError{err}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			return stopError{err}
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// ForExec waits until argv, run in the container, exits 0 (e.g.
// `pg_isready`, `redis-cli ping`).
func ForExec(argv ...string) Strategy {
	return poll(fmt.Sprintf("exec %q", argv), func(ctx context.Context, c *hull.Container) error {
		var out lockedBuffer
		res, err := c.Exec(ctx, argv, hull.WithExecStdout(&out), hull.WithExecStderr(&out))
		if err != nil {
			return err
		}
		if res.ExitCode != 0 {
			o := strings.TrimSpace(out.String())
			if len(o) > 200 {
				o = o[:200] + "..."
			}
			return fmt.Errorf("exit code %d: %q", res.ExitCode, o)
		}
		return nil
	})
}

// ForHealthy waits until the container's health check (its image's
// HEALTHCHECK, or hull.WithHealthcheck) reports it healthy
// (hull.Container.WaitHealthy). It fails at once when the check reports
// it unhealthy (the error wraps hull.ErrUnhealthy), when the container
// exits, or when it has no health check.
func ForHealthy() Strategy {
	return Strategy{desc: "healthy", run: func(ctx context.Context, c *hull.Container) error {
		if err := c.WaitHealthy(ctx); err != nil {
			return &WaitError{Wait: "healthy", Err: err}
		}
		return nil
	}}
}

// ForAll waits for each strategy in turn; it fails as the first that fails.
func ForAll(strategies ...Strategy) Strategy {
	return Strategy{desc: describe("all of", strategies), run: func(ctx context.Context, c *hull.Container) error {
		for _, s := range strategies {
			if err := s.run(ctx, c); err != nil {
				return err
			}
		}
		return nil
	}}
}

// ForAny waits for the strategies at once, until one holds; it fails when
// all have failed, with all their errors.
func ForAny(strategies ...Strategy) Strategy {
	desc := describe("any of", strategies)
	return Strategy{desc: desc, run: func(ctx context.Context, c *hull.Container) error {
		if len(strategies) == 0 {
			return nil
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errs := make(chan error, len(strategies))
		for _, s := range strategies {
			go func() { errs <- s.run(ctx, c) }()
		}
		var all []error
		for range strategies {
			err := <-errs
			if err == nil {
				return nil
			}
			all = append(all, err)
		}
		return &WaitError{Wait: desc, Err: errors.Join(all...)}
	}}
}

func describe(what string, strategies []Strategy) string {
	var names []string
	for _, s := range strategies {
		names = append(names, s.desc)
	}
	return what + " (" + strings.Join(names, "; ") + ")"
}
