package compose_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/compose"
)

const healthGated = `
services:
  db:
    image: app:test
    init: true
    command: ["sh", "-c", "sleep 0.6; touch /tmp/ready; exec app sleep"]
    healthcheck:
      test: ["CMD-SHELL", "[ -f /tmp/ready ]"]
      interval: 100ms
      start_interval: 100ms
      start_period: 10s
  web:
    image: app:test
    init: true
    command: ["app", "sleep"]
    depends_on:
      db:
        condition: service_healthy
  crash:
    image: app:test
    command: ["sh", "-c", "exit 3"]
    restart: on-failure:2
`

// TestHealthGatedStartup: web depends on db being healthy, which takes
// db 0.6 s: web's start comes after db's first passing check (Inspect's
// timestamps), and up --wait returns with db healthy. A crashing service
// with restart: on-failure:2 is restarted twice.
func TestHealthGatedStartup(t *testing.T) {
	rt := openRuntime(t)
	ctx := t.Context()
	p, _ := writeProject(t, "hg", map[string]string{"compose.yaml": healthGated})
	down(t, rt, p)
	var status bytes.Buffer
	if err := p.Up(ctx, rt, compose.WithWait(), compose.WithServices("web"), compose.WithStatus(&status)); err != nil {
		t.Fatalf("up: %v\n%s", err, status.String())
	}
	info := map[string]hull.ContainerInspect{}
	cs, err := p.Ps(ctx, rt)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		info[c.Service], err = c.Container.Inspect(ctx)
		if err != nil {
			t.Fatal(err)
		}
	}
	db, web := info["db"], info["web"]
	if _, ok := info["crash"]; ok {
		t.Errorf("up web started crash, which web does not depend on")
	}
	if db.State.Health == nil || db.State.Health.Status != hull.HealthHealthy {
		t.Fatalf("db after up --wait: health %+v", db.State.Health)
	}
	var healthyAt time.Time
	for _, r := range db.State.Health.Log {
		if r.ExitCode == 0 {
			healthyAt = r.End
			break
		}
	}
	if healthyAt.IsZero() || web.State.StartedAt.Before(healthyAt) || web.State.StartedAt.Sub(db.State.StartedAt) < 600*time.Millisecond {
		t.Errorf("db started %v, healthy %v; web started %v: want web after db healthy",
			db.State.StartedAt.Format(time.StampMicro), healthyAt.Format(time.StampMicro), web.State.StartedAt.Format(time.StampMicro))
	}
	t.Logf("db started %v, first passing check ended %v, web started %v",
		db.State.StartedAt.Format(time.StampMilli), healthyAt.Format(time.StampMilli), web.State.StartedAt.Format(time.StampMilli))

	if err := p.Up(ctx, rt, compose.WithServices("crash")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cs, err := p.Ps(ctx, rt, compose.WithServices("crash"))
		if err != nil || len(cs) != 1 {
			t.Fatalf("ps crash: %v %v", cs, err)
		}
		in, err := cs[0].Container.Inspect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Between two runs the state is briefly neither running nor
		// exited: wait for the last run's exit.
		if in.RestartCount == 2 && in.State.Status == hull.StatusExited && !in.State.Restarting && in.State.ExitCode == 3 {
			if in.HostConfig.RestartPolicy != (hull.RestartPolicy{Name: hull.RestartOnFailure, MaximumRetryCount: 2}) {
				t.Errorf("crash: policy %+v", in.HostConfig.RestartPolicy)
			}
			time.Sleep(500 * time.Millisecond) // and no third restart
			if in, err = cs[0].Container.Inspect(ctx); err != nil || in.RestartCount != 2 || in.State.Status != hull.StatusExited {
				t.Errorf("crash restarted again: %d %s %v", in.RestartCount, in.State.Status, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("crash: RestartCount %d, status %s, exit %d after 10 s, want 2 restarts then exited 3",
				in.RestartCount, in.State.Status, in.State.ExitCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
