package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull"
)

func TestHealthFlags(t *testing.T) {
	t.Parallel()
	f := healthFlags{restart: "on-failure:3", cmd: "true", interval: "100ms", retries: "2"}
	opts, err := f.options("hull run")
	if err != nil || len(opts) != 2 {
		t.Fatalf("%d options, %v", len(opts), err)
	}
	for _, bad := range []healthFlags{
		{restart: "always:2"}, {restart: "on-failure:x"}, {interval: "soon"},
		{timeout: "-1s"}, {retries: "-1"}, {none: true, cmd: "true"},
	} {
		if _, err := bad.options("hull run"); err == nil {
			t.Errorf("%+v: no error", bad) // a bad policy name is WithRestartPolicy's to refuse
		}
	}
	now := time.Now()
	for _, tt := range []struct {
		s    hull.ContainerStateInfo
		want string
	}{
		{hull.ContainerStateInfo{Running: true, StartedAt: now, Health: &hull.HealthState{Status: hull.HealthHealthy}}, "(healthy)"},
		{hull.ContainerStateInfo{Running: true, StartedAt: now, Health: &hull.HealthState{Status: hull.HealthStarting}}, "(health: starting)"},
		{hull.ContainerStateInfo{Status: hull.StatusExited, Restarting: true, ExitCode: 3, FinishedAt: now}, "Restarting (3)"},
	} {
		if got := statusText(tt.s, now); !strings.Contains(got, tt.want) {
			t.Errorf("statusText = %q, want %q in it", got, tt.want)
		}
	}
}

// TestRunRestartHealth: run -d with --restart and --health-* flags; ps
// shows the health, inspect the policy and the restarts (the supervisor
// is this CLI binary).
func TestRunRestartHealth(t *testing.T) {
	root := busyboxRoot(t)
	t.Parallel()
	mustHull(t, root, nil, "run", "-d", "--name", "hc", "--restart", "on-failure:1",
		"--health-cmd", "test -f /ran", "--health-interval", "100ms", "--health-retries", "1",
		"busybox:test", "sh", "-c", "test -f /ran && exec sleep 60; touch /ran; exit 3")
	defer hullCmd(t, root, nil, "rm", "-f", "hc")
	var ps string
	for i := 0; i < 200 && !strings.Contains(ps, "(healthy)"); i++ {
		time.Sleep(25 * time.Millisecond)
		ps = mustHull(t, root, nil, "ps").stdout
	}
	if !strings.Contains(ps, "(healthy)") {
		t.Fatalf("ps: %q", ps)
	}
	in := mustHull(t, root, nil, "inspect", "hc").stdout
	for _, want := range []string{`"RestartCount": 1`, `"Name": "on-failure"`, `"MaximumRetryCount": 1`, `"Status": "healthy"`} {
		if !strings.Contains(in, want) {
			t.Errorf("inspect has no %s: %s", want, in)
		}
	}
}
