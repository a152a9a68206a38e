package compose_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullbox/hull"
)

const fieldsProject = `
services:
  app:
    image: app:test
    init: true
    entrypoint: ["app"]
    command: ["sleep"]
    hostname: apphost
    user: "1000:1000"
    working_dir: /home/app
    read_only: true
    tmpfs: ["/scratch:size=1m"]
    environment:
      FROM_FILE: inline wins
    env_file: app.env
    labels:
      team: compose
    mem_limit: 64m
    pids_limit: 50
    cap_drop: [ALL]
    stop_grace_period: 2s
    volumes:
      - ./conf:/conf:ro
      - type: tmpfs
        target: /cache
    networks:
      back:
        ipv4_address: 10.77.0.50
        aliases: [store]
  probe:
    image: app:test
    init: true
    command: ["app", "sleep"]
    networks: [back]
  side:
    image: app:test
    init: true
    command: ["app", "sleep"]
    network_mode: "service:app"
networks:
  back:
    ipam:
      config:
        - subnet: 10.77.0.0/24
`

// TestServiceFields: a service's fields reach its container (Inspect and
// what the process sees), a static address and an alias on a declared
// subnet resolve from another service, and network_mode service:x
// shares x's network namespace.
func TestServiceFields(t *testing.T) {
	rt := openRuntime(t)
	ctx := t.Context()
	p, dir := writeProject(t, "fld", map[string]string{
		"compose.yaml": fieldsProject,
		"app.env":      "FROM_FILE=file\nONLY_FILE=yes\n",
	})
	if err := os.MkdirAll(filepath.Join(dir, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "conf", "x"), []byte("conf\n"), 0o644)
	down(t, rt, p)
	if err := p.Up(ctx, rt); err != nil {
		t.Fatal(err)
	}
	cs, err := p.Ps(ctx, rt)
	if err != nil || len(cs) != 3 {
		t.Fatalf("ps: %v %v", cs, err)
	}
	in, err := cs[0].Container.Inspect(ctx) // app
	if err != nil {
		t.Fatal(err)
	}
	cfg, hc := in.Config, in.HostConfig
	switch {
	case cfg.Hostname != "apphost", cfg.User != "1000:1000", cfg.WorkingDir != "/home/app",
		cfg.Labels["team"] != "compose", cfg.Labels["com.docker.compose.service"] != "app",
		hc.Memory != 64<<20, hc.PidsLimit != 50,
		in.NetworkSettings.Networks["fld_back"].IPAddress != "10.77.0.50":
		t.Errorf("inspect: config %+v, host %+v, networks %+v", cfg, hc, in.NetworkSettings.Networks)
	}
	exec := func(service string, argv ...string) string {
		var out bytes.Buffer
		res, err := p.Exec(ctx, rt, service, argv, hull.WithExecStdout(&out), hull.WithExecStderr(&out))
		if err != nil {
			t.Fatalf("exec %v: %v", argv, err)
		}
		return strings.TrimSpace(out.String()) + map[bool]string{true: "", false: " [failed]"}[res.ExitCode == 0]
	}
	if got := exec("app", "sh", "-c", "echo $FROM_FILE/$ONLY_FILE; id -u; pwd; cat /conf/x; touch /x 2>/dev/null || echo ro; touch /scratch/x /cache/x && echo tmpfs; grep CapEff /proc/self/status"); got !=
		"inline wins/yes\n1000\n/home/app\nconf\nro\ntmpfs\nCapEff:\t0000000000000000" {
		t.Errorf("in app:\n%s", got)
	}
	if got := exec("probe", "nslookup", "store", "127.0.0.11"); !strings.Contains(got, "10.77.0.50") {
		t.Errorf("probe: nslookup store:\n%s", got)
	}
	if got := exec("side", "hostname"); got != "apphost" {
		t.Errorf("side (network_mode service:app) hostname: %q", got)
	}
}
