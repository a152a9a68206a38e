package compose_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/compose"
)

// TestErrors: bad compose files fail at Load (what compose-go finds) or
// at Up's check, before Up touches the Runtime (it gets none here), with
// an error naming the file, the service and the field.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		atLoad     bool
		want       []string // substrings of the error
		is         error
	}{
		{"unknown-key", "services:\n  web:\n    image: x\n    imagee: y\n", true,
			[]string{"compose.yaml", "web", "imagee"}, hull.ErrInvalidArgument},
		{"bad-interpolation", "services:\n  web:\n    image: app:${TAG?TAG must be set}\n", true,
			[]string{"TAG must be set"}, hull.ErrInvalidArgument},
		{"cycle", "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [c]\n  c:\n    image: x\n    depends_on: [a]\n", true,
			[]string{"cycle", "a", "b", "c"}, hull.ErrInvalidArgument},
		{"unknown-dependency", "services:\n  a:\n    image: x\n    depends_on: [nosuch]\n", true,
			[]string{"nosuch"}, hull.ErrInvalidArgument},
		{"unsupported-field", "services:\n  web:\n    image: x\n    extra_hosts: [\"a:1.2.3.4\"]\n", false,
			[]string{"compose.yaml", `service "web"`, "extra_hosts", "hull has no equivalent"}, hull.ErrUnsupported},
		{"port-conflict", "services:\n  a:\n    image: x\n    ports: [\"8080:80\"]\n  b:\n    image: x\n    ports: [\"8080:81\"]\n", false,
			[]string{"compose.yaml", `service "b"`, "ports[0]", "8080/tcp", `service "a"`}, hull.ErrConflict},
		{"bad-restart", "services:\n  web:\n    image: x\n    restart: sometimes\n", false,
			[]string{`service "web"`, "restart", "sometimes"}, hull.ErrInvalidArgument},
		{"bad-signal", "services:\n  web:\n    image: x\n    stop_signal: SIGNOPE\n", false,
			[]string{`service "web"`, "stop_signal", "SIGNOPE"}, hull.ErrInvalidArgument},
		{"bad-log-size", "services:\n  web:\n    image: x\n    logging:\n      options:\n        max-size: lots\n", false,
			[]string{`service "web"`, "logging.options.max-size"}, hull.ErrInvalidArgument},
		{"replicas-one-port", "services:\n  web:\n    image: x\n    scale: 2\n    ports: [\"8080:80\"]\n", false,
			[]string{`service "web"`, "ports[0]", "2 replicas"}, hull.ErrInvalidArgument},
		{"network-driver", "services:\n  web:\n    image: x\n    networks: [ov]\nnetworks:\n  ov:\n    driver: overlay\n", false,
			[]string{`"networks.ov"`, "driver"}, hull.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "compose.yaml")
			if err := os.WriteFile(file, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := compose.Load(t.Context(), compose.WithFiles(file), compose.WithEnvironment())
			if tc.atLoad != (err != nil) {
				t.Fatalf("Load: %v, want an error: %v", err, tc.atLoad)
			}
			if err == nil {
				err = p.Up(t.Context(), nil) // fails before it uses the Runtime
				var fe *compose.FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("Up: %v, want a *FieldError", err)
				}
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
		})
	}
}

// TestOptionsRefused: a call given an option it has no use for fails
// naming it.
func TestOptionsRefused(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	os.WriteFile(file, []byte("services:\n  web:\n    image: x\n"), 0o644)
	p, err := compose.Load(t.Context(), compose.WithFiles(file), compose.WithEnvironment())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Down(t.Context(), nil, compose.WithScale("web", 2)); !errors.Is(err, hull.ErrInvalidArgument) || !strings.Contains(err.Error(), "WithScale") {
		t.Errorf("Down(WithScale): %v", err)
	}
	if err := p.Up(t.Context(), nil, compose.WithScale("nosuch", 2)); !errors.Is(err, hull.ErrInvalidArgument) || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("Up(WithScale(nosuch)): %v", err)
	}
	if p.Name() != filepath.Base(dir) && !strings.HasPrefix(filepath.Base(dir), p.Name()) {
		t.Errorf("project name %q, want the directory's (%s)", p.Name(), filepath.Base(dir))
	}
}
