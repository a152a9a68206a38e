package imageconfig

import (
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestChangeApply(t *testing.T) {
	t.Parallel()
	base := ocispec.ImageConfig{Cmd: []string{"sh"}, Env: []string{"A=1", "B=1"}, WorkingDir: "/w",
		Labels: map[string]string{"a": "1"}, ExposedPorts: map[string]struct{}{"22/tcp": {}}}
	user := "app"
	c := Change{Entrypoint: []string{"/bin/app"}, EntrypointSet: true, Workdir: "sub", User: &user,
		Env: []string{"A=2", "C=3"}, Labels: map[string]string{"b": "2"}, Ports: []string{"80/tcp"}}
	got := c.Apply(base)
	if got.Cmd != nil || !slices.Equal(got.Entrypoint, []string{"/bin/app"}) || got.WorkingDir != "/w/sub" || got.User != "app" {
		t.Errorf("Apply: %+v", got)
	}
	if !slices.Equal(got.Env, []string{"A=2", "B=1", "C=3"}) || len(got.Labels) != 2 || len(got.ExposedPorts) != 2 {
		t.Errorf("Apply: env %v labels %v ports %v", got.Env, got.Labels, got.ExposedPorts)
	}
	if base.Env[0] != "A=1" || len(base.Labels) != 1 || len(base.ExposedPorts) != 1 {
		t.Error("Apply changed its base")
	}
	// CMD with ENTRYPOINT keeps both; an absolute WORKDIR replaces.
	c = Change{Cmd: []string{"x"}, CmdSet: true, Entrypoint: []string{}, EntrypointSet: true, Workdir: "/abs/../d"}
	if got := c.Apply(base); !slices.Equal(got.Cmd, []string{"x"}) || len(got.Entrypoint) != 0 || got.WorkingDir != "/d" {
		t.Errorf("Apply: %+v", got)
	}
	var zero Change
	if got := zero.Apply(base); !slices.Equal(got.Cmd, base.Cmd) || got.WorkingDir != "/w" || !slices.Equal(got.Env, base.Env) {
		t.Errorf("the zero Change changed %+v", got)
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	base := ocispec.ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}, User: "nobody"}
	if got := Run(base, Recorded{Env: []string{"X=1"}}); !slices.Equal(got.Cmd, base.Cmd) || !slices.Equal(got.Env, base.Env) {
		t.Errorf("nothing recorded: %+v", got)
	}
	r := Recorded{Cmd: []string{"top"}, Env: []string{"PATH=/bin", "HOSTNAME=abc", "TERM=xterm", "K=v"}, Workdir: "/", TTY: true}
	got := Run(base, r)
	if !slices.Equal(got.Cmd, []string{"top"}) || !slices.Equal(got.Env, []string{"PATH=/bin", "K=v"}) || got.WorkingDir != "" || got.User != "" {
		t.Errorf("Run: %+v", got)
	}
	r.Workdir, r.TTY = "/srv", false
	if got := Run(base, r); got.WorkingDir != "/srv" || !slices.Contains(got.Env, "TERM=xterm") {
		t.Errorf("Run without a terminal: %+v", got)
	}
}
