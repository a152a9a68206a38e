package compose_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/compose"
)

const webCounter = `
services:
  web:
    image: app:test
    command: ["app", "web", ":80", "counter:7000"]
    init: true
    depends_on: [counter]
    environment:
      GREETING: ${GREETING:-hello}
  counter:
    image: app:test
    command: ["app", "counter", ":7000", "/data/count"]
    init: true
    volumes: [data:/data]
volumes:
  data:
`

// TestUpScale brings up web (3 replicas) and counter, checks that the
// service name resolves to the 3 replicas, that a second Up changes
// nothing, and that scaling down and a changed environment recreate only
// what they must.
func TestUpScale(t *testing.T) {
	rt := openRuntime(t)
	ctx := t.Context()
	p, _ := writeProject(t, "scl", map[string]string{"compose.yaml": webCounter})
	down(t, rt, p)
	var status bytes.Buffer
	if err := p.Up(ctx, rt, compose.WithScale("web", 3), compose.WithStatus(&status)); err != nil {
		t.Fatalf("up: %v\n%s", err, status.String())
	}
	ps := psNames(t, p, rt)
	want := []string{"scl-counter-1", "scl-web-1", "scl-web-2", "scl-web-3"}
	if !slices.Equal(ps, want) {
		t.Fatalf("ps = %v, want %v", ps, want)
	}
	// From counter, "web" resolves to the three replicas, and each answers.
	var out bytes.Buffer
	res, err := p.Exec(ctx, rt, "counter", []string{"nslookup", "web", "127.0.0.11"}, hull.WithExecStdout(&out), hull.WithExecStderr(&out))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("nslookup web: %v %d\n%s", err, res.ExitCode, out.String())
	}
	n := 0
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "Address") && !strings.Contains(l, "127.0.0.11") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("web resolves to %d addresses, want 3:\n%s", n, out.String())
	}
	for _, name := range want[1:] {
		out.Reset()
		res, err := p.Exec(ctx, rt, "counter", []string{"wget", "-qO-", "http://" + name + "/"}, hull.WithExecStdout(&out), hull.WithExecStderr(&out))
		if err != nil || res.ExitCode != 0 || !strings.HasPrefix(out.String(), "count ") {
			t.Errorf("wget %s: %v %d %q", name, err, res.ExitCode, out.String())
		}
	}

	ids := psIDs(t, p, rt)
	if err := p.Up(ctx, rt, compose.WithScale("web", 3)); err != nil {
		t.Fatal(err)
	}
	if again := psIDs(t, p, rt); !slices.Equal(again, ids) {
		t.Errorf("a second up recreated containers: %v, then %v", ids, again)
	}

	// Scale down to 1 and change web's environment: web-2 and web-3 go,
	// web-1 is recreated, counter is kept.
	p2, _ := writeProject(t, "scl", map[string]string{"compose.yaml": strings.Replace(webCounter, "hello", "bye", 1)})
	if err := p2.Up(ctx, rt); err != nil {
		t.Fatal(err)
	}
	after := psIDs(t, p2, rt)
	if len(after) != 2 || after[0] != ids[0] || after[1] == ids[1] {
		t.Errorf("after changing web: %v (before %v): want counter kept, web-1 recreated", after, ids)
	}
}

func psNames(t *testing.T, p *compose.Project, rt *hull.Runtime) []string {
	t.Helper()
	cs, err := p.Ps(t.Context(), rt)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func psIDs(t *testing.T, p *compose.Project, rt *hull.Runtime) []string {
	t.Helper()
	cs, err := p.Ps(t.Context(), rt)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Container.ID())
	}
	return out
}

// TestUpFailsCleanly: a service whose image is missing (and cannot be
// pulled: no network here), and one whose host port is taken, make Up
// fail naming the service and field, leaving no container, network or
// volume of the project behind.
func TestUpFailsCleanly(t *testing.T) {
	rt := openRuntime(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name, file, field string
	}{
		{"missing-image", `
services:
  ok:
    image: app:test
    command: [app, sleep]
  bad:
    image: 127.0.0.1:1/nosuch/image:1
    volumes: [vol:/v]
volumes:
  vol:
`, "image"},
		{"port-taken", `
services:
  first:
    image: app:test
    command: [app, sleep]
    ports: ["127.0.0.1:18080:80"]
  second:
    image: app:test
    command: [app, sleep]
    depends_on: [first]
    ports: ["127.0.0.1:18081:80"]
`, "(container pt-second-1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "port-taken" {
				// Another container already publishes second's port.
				c, err := rt.Run(ctx, appRef, hull.WithCmd("app", "sleep"), hull.WithPublish("127.0.0.1:18081:80"))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Remove(ctx, hull.WithForce())
			}
			name := map[string]string{"missing-image": "mi", "port-taken": "pt"}[tc.name]
			p, _ := writeProject(t, name, map[string]string{"compose.yaml": tc.file})
			err := p.Up(ctx, rt)
			var fe *compose.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(err.Error(), "compose.yaml") {
				t.Fatalf("up: %v, want a FieldError on %s", err, tc.field)
			}
			if cs, _ := p.Ps(ctx, rt); len(cs) != 0 {
				t.Errorf("containers left: %v", cs)
			}
			nets, _ := rt.Networks(ctx)
			for _, n := range nets {
				if strings.HasPrefix(n.Name(), name+"_") {
					t.Errorf("network %s left", n.Name())
				}
			}
			vols, _ := rt.Volumes(ctx)
			for _, v := range vols {
				if strings.HasPrefix(v.Name(), name+"_") {
					t.Errorf("volume %s left", v.Name())
				}
			}
		})
	}
}

// TestUpBuild: a service with build: is built by Up (context,
// dockerfile, args, target), tagged <project>-<service>, and runs.
func TestUpBuild(t *testing.T) {
	rt := openRuntime(t)
	ctx := t.Context()
	p, dir := writeProject(t, "bld", map[string]string{
		"compose.yaml": `
services:
  svc:
    build:
      context: .
      dockerfile: app.Dockerfile
      target: final
      args:
        WORD: built
    command: ["app", "sleep"]
    init: true
`,
		"app.Dockerfile": "FROM app:test AS base\nARG WORD\nRUN echo $WORD > /word\nFROM base AS final\nRUN cat /word /word > /twice\nFROM base AS unused\nRUN false\n",
	})
	down(t, rt, p)
	if err := p.Up(ctx, rt); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Image(ctx, "bld-svc"); err != nil {
		t.Errorf("image bld-svc: %v", err)
	}
	var out bytes.Buffer
	if res, err := p.Exec(ctx, rt, "svc", []string{"cat", "/twice"}, hull.WithExecStdout(&out)); err != nil || res.ExitCode != 0 || out.String() != "built\nbuilt\n" {
		t.Errorf("cat /twice: %v %v %q", err, res.ExitCode, out.String())
	}
	// up --build of the same Dockerfile: the cached image, the same
	// container. Then a changed Dockerfile: a new image, a new container.
	ids := psIDs(t, p, rt)
	if err := p.Up(ctx, rt, compose.WithBuild()); err != nil {
		t.Fatal(err)
	}
	if again := psIDs(t, p, rt); !slices.Equal(again, ids) {
		t.Errorf("up --build of an unchanged Dockerfile recreated %v as %v", ids, again)
	}
	df := filepath.Join(dir, "app.Dockerfile")
	if err := os.WriteFile(df, []byte("FROM app:test AS final\nRUN echo new > /twice\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Up(ctx, rt, compose.WithBuild()); err != nil {
		t.Fatal(err)
	}
	if again := psIDs(t, p, rt); len(again) != 1 || again[0] == ids[0] {
		t.Errorf("up --build of a changed Dockerfile kept %v: %v", ids, again)
	}
	out.Reset()
	if _, err := p.Exec(ctx, rt, "svc", []string{"cat", "/twice"}, hull.WithExecStdout(&out)); err != nil || out.String() != "new\n" {
		t.Errorf("after rebuild, cat /twice: %v %q", err, out.String())
	}
}

// TestRunOneOff: Run brings up what the service depends on, runs a
// one-off container labelled as such, and Events reports the project's
// containers.
func TestRunOneOff(t *testing.T) {
	rt := openRuntime(t)
	ctx := t.Context()
	p, dir := writeProject(t, "one", map[string]string{"compose.yaml": `
services:
  db:
    image: app:test
    command: ["app", "sleep"]
    init: true
  job:
    image: app:test
    command: ["false"]
    depends_on: [db]
    ports: ["127.0.0.1:18090:80"]
`})
	down(t, rt, p)
	if p.WorkingDir() != dir || len(p.Files()) != 1 || p.Files()[0] != filepath.Join(dir, "compose.yaml") {
		t.Errorf("WorkingDir %q, Files %v", p.WorkingDir(), p.Files())
	}
	evs, err := p.Events(ctx, rt)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c, err := p.Run(ctx, rt, "job", []string{"sh", "-c", "echo hi"}, hull.WithStdout(&out))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Wait(ctx); err != nil || st.ExitCode != 0 || out.String() != "hi\n" {
		t.Errorf("one-off: %+v %v %q", st, err, out.String())
	}
	if !strings.HasPrefix(c.Name(), "one-job-run-") {
		t.Errorf("one-off name %q", c.Name())
	}
	cs, err := p.Ps(ctx, rt)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Name != "one-db-1" || cs[0].Status != hull.StatusRunning || !cs[1].OneOff || len(cs[1].Ports) != 0 {
		t.Errorf("ps: %+v", cs)
	}
	started := map[string]bool{}
	for !started["one-db-1"] || !started[c.Name()] {
		select {
		case ev := <-evs:
			if ev.Action == "start" {
				started[ev.Name] = true
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("events: started %v", started)
		}
	}
}
