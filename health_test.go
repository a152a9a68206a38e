//go:build linux

package hull

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/imagearchive"
	"github.com/hullbox/hull/internal/testutil"
	digest "github.com/opencontainers/go-digest"
)

// inspectC inspects c, failing the test on error.
func inspectC(t *testing.T, c *Container) ContainerInspect {
	t.Helper()
	in, err := c.Inspect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// waitInspect polls c's Inspect until ok says so, failing after 10 s.
func waitInspect(t *testing.T, c *Container, what string, ok func(ContainerInspect) bool) ContainerInspect {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		in := inspectC(t, c)
		if ok(in) {
			return in
		}
		if time.Now().After(deadline) {
			st, _ := json.Marshal(in.State)
			t.Fatalf("waited 10s for %s: state %s, restarts %d", what, st, in.RestartCount)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// healthActions is the health_status events of evs, in order.
func healthActions(evs []Event) []string {
	var out []string
	for _, e := range evs {
		if strings.HasPrefix(e.Action, "health_status") {
			out = append(out, e.Action)
		}
	}
	return out
}

// drainEvents reads what ch has for the next wait.
func drainEvents(ch <-chan Event, wait time.Duration) []Event {
	var out []Event
	t := time.After(wait)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, e)
		case <-t:
			return out
		}
	}
}

// TestHealthcheck: a check that fails (in its start period: not counted)
// then passes once the test creates its file, then fails Retries times:
// starting -> healthy -> unhealthy, with FailingStreak, a log of at most
// five results, the events, and WaitHealthy's answers.
func TestHealthcheck(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	evs := events(t, rt, WithEventsFilter("type", "container"))
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sleep", "60"), WithHealthcheck(Healthcheck{
		Test:     []string{"CMD-SHELL", "cat /ok 2>/dev/null || { echo not yet; exit 1; }"},
		Interval: 100 * time.Millisecond, StartPeriod: time.Hour, StartInterval: 100 * time.Millisecond, Retries: 2,
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(t.Context(), WithForce())
	in := inspectC(t, c)
	if in.State.Health == nil || in.State.Health.Status != HealthStarting {
		t.Fatalf("health at start: %+v", in.State.Health)
	}
	if in.Config.Healthcheck == nil || in.Config.Healthcheck.Retries != 2 {
		t.Errorf("Config.Healthcheck %+v", in.Config.Healthcheck)
	}
	// Failures in the start period are logged, not counted.
	in = waitInspect(t, c, "3 failed checks", func(in ContainerInspect) bool { return len(in.State.Health.Log) >= 3 })
	if h := in.State.Health; h.Status != HealthStarting || h.FailingStreak != 0 || h.Log[0].ExitCode != 1 || h.Log[0].Output != "not yet\n" {
		t.Fatalf("in the start period: %+v", h)
	}
	if _, err := c.Exec(t.Context(), []string{"sh", "-c", "echo fine > /ok"}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(t.Context()); err != nil {
		t.Fatal(err)
	}
	in = inspectC(t, c)
	if h := in.State.Health; h.Status != HealthHealthy || h.FailingStreak != 0 || h.Log[len(h.Log)-1].Output != "fine\n" ||
		h.Log[len(h.Log)-1].End.Before(h.Log[len(h.Log)-1].Start) {
		t.Fatalf("healthy: %+v", h)
	}
	if _, err := c.Exec(t.Context(), []string{"rm", "/ok"}); err != nil {
		t.Fatal(err)
	}
	// Once healthy, failures count even in the start period.
	in = waitInspect(t, c, "unhealthy", func(in ContainerInspect) bool { return in.State.Health.Status == HealthUnhealthy })
	if h := in.State.Health; h.FailingStreak != 2 || len(h.Log) > 5 {
		t.Errorf("unhealthy: streak %d, %d results", h.FailingStreak, len(h.Log))
	}
	if err := c.WaitHealthy(t.Context()); !errors.Is(err, ErrUnhealthy) {
		t.Errorf("WaitHealthy of an unhealthy container: %v", err)
	}
	in = waitInspect(t, c, "6 more results", func(in ContainerInspect) bool { return in.State.Health.FailingStreak >= 6 })
	if len(in.State.Health.Log) != 5 {
		t.Errorf("log of %d results, want the last 5", len(in.State.Health.Log))
	}
	// Another process's view: the state on disk.
	other, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	oc, err := other.Container(t.Context(), c.ID())
	if err != nil {
		t.Fatal(err)
	}
	if h := inspectC(t, oc).State.Health; h == nil || h.Status != HealthUnhealthy {
		t.Errorf("another Runtime sees %+v", h)
	}
	got := healthActions(drainEvents(evs, 300*time.Millisecond))
	if want := []string{"health_status: healthy", "health_status: unhealthy"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

// TestHealthcheckTimeout: a check that hangs is killed after Timeout and
// counts as a failure (-1), as Docker's.
func TestHealthcheckTimeout(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c, err := rt.Run(t.Context(), "busybox:test", WithCmd("sleep", "60"), WithHealthcheck(Healthcheck{
		Test: []string{"CMD", "sleep", "30"}, Interval: 100 * time.Millisecond, Timeout: 200 * time.Millisecond, Retries: 1,
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove(t.Context(), WithForce())
	start := time.Now()
	if err := c.WaitHealthy(t.Context()); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("WaitHealthy: %v", err)
	}
	h := inspectC(t, c).State.Health
	r := h.Log[0]
	if r.ExitCode != -1 || !strings.Contains(r.Output, "exceeded timeout") || r.End.Sub(r.Start) < 200*time.Millisecond {
		t.Errorf("result %+v", r)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("unhealthy after %v: the hanging check was not killed", d)
	}
	// The killed checks left no process behind in the container.
	var out bytes.Buffer
	if _, err := c.Exec(t.Context(), []string{"sh", "-c", "sleep 0.3; ps -o args | grep -c '^sleep 30' || true"}, WithExecStdout(&out)); err != nil {
		t.Fatal(err)
	}
	if n := strings.TrimSpace(out.String()); n != "0" && n != "1" { // 1: the check running now
		t.Errorf("%s checks still running", n)
	}
}

// healthImage loads a busybox image whose config has Docker's
// Healthcheck field (what a Dockerfile HEALTHCHECK makes), tagged ref.
func healthImage(t *testing.T, rt *Runtime, ref string, hc Healthcheck) {
	t.Helper()
	layer := testutil.TarBytes(t, testutil.BusyboxFiles(t))
	d := digest.FromBytes(layer)
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Env": []string{testutil.DefaultPath}, "Cmd": []string{"sleep", "60"}, "Healthcheck": hc},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{d}},
	})
	cd := digest.FromBytes(config)
	manifest, _ := json.Marshal([]imagearchive.ManifestItem{{Config: cd.Encoded() + ".json", RepoTags: []string{ref}, Layers: []string{"l/layer.tar"}}})
	data := writeEntries(t, []tarEntry{
		{hdr: &tar.Header{Name: "l/", Typeflag: tar.TypeDir, Mode: 0o755}},
		regEntry("l/layer.tar", layer), regEntry(cd.Encoded()+".json", config), regEntry("manifest.json", manifest),
	})
	if _, err := rt.Load(t.Context(), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

// TestHealthcheckImage: the image's HEALTHCHECK is run, WithHealthcheck
// overrides it field by field, NONE disables it, and WaitHealthy fails
// without a check and when the container exits before it is healthy.
func TestHealthcheckImage(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	healthImage(t, rt, "health:test", Healthcheck{Test: []string{"CMD-SHELL", "test -f /etc/passwd"}, Interval: 100 * time.Millisecond, Retries: 1})
	img, err := rt.Image(t.Context(), "health:test")
	if err != nil {
		t.Fatal(err)
	}
	if h := img.Healthcheck(); h == nil || h.Test[1] != "test -f /etc/passwd" {
		t.Fatalf("image healthcheck %+v", h)
	}
	ctx := t.Context()
	run := func(opts ...RunOption) *Container {
		c, err := rt.Run(ctx, "health:test", opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Remove(ctx, WithForce()) })
		return c
	}
	if err := run().WaitHealthy(ctx); err != nil {
		t.Errorf("image's check: %v", err)
	}
	// Overridden: the command, keeping the image's interval and retries.
	c := run(WithHealthcheck(Healthcheck{Test: []string{"CMD", "false"}}))
	if err := c.WaitHealthy(ctx); !errors.Is(err, ErrUnhealthy) {
		t.Errorf("overridden check: %v", err)
	}
	if h := inspectC(t, c).Config.Healthcheck; h.Interval != 100*time.Millisecond || h.Retries != 1 || h.Test[0] != "CMD" {
		t.Errorf("merged check %+v", h)
	}
	// Commit keeps the container's check, as Docker's.
	committed, err := c.Commit(ctx, "health:committed")
	if err != nil {
		t.Fatal(err)
	}
	if h := committed.Healthcheck(); h == nil || !slices.Equal(h.Test, []string{"CMD", "false"}) || h.Interval != 100*time.Millisecond {
		t.Errorf("committed image's check %+v", h)
	}
	if cmd := committed.Config().Cmd; !slices.Equal(cmd, []string{"sleep", "60"}) {
		t.Errorf("committed image's Cmd %q", cmd)
	}
	c = run(WithHealthcheck(Healthcheck{Test: []string{"NONE"}}))
	if in := inspectC(t, c); in.Config.Healthcheck != nil || in.State.Health != nil {
		t.Errorf("NONE: %+v %+v", in.Config.Healthcheck, in.State.Health)
	}
	if err := c.WaitHealthy(ctx); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("WaitHealthy without a check: %v", err)
	}
	c = run(WithCmd("sleep", "0.2"), WithHealthcheck(Healthcheck{Test: []string{"CMD", "false"}, StartPeriod: time.Hour}))
	if err := c.WaitHealthy(ctx); !errors.Is(err, ErrConflict) || errors.Is(err, ErrUnhealthy) {
		t.Errorf("WaitHealthy of an exiting container: %v", err)
	}
	for _, bad := range []Healthcheck{{Test: []string{"CMD"}}, {Test: []string{"SHELL", "x"}}, {Test: []string{"CMD-SHELL", "a", "b"}}, {Interval: -1}} {
		if _, err := rt.Create(ctx, "health:test", WithHealthcheck(bad)); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
