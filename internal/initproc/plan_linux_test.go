package initproc

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCompileFallsBack: what plan.c does not do is left to the Go init.
func TestCompileFallsBack(t *testing.T) {
	if !planAvailable {
		t.Skip("built without cgo: there is no plan.c")
	}
	cfg := func() *Config {
		return &Config{
			Spec: &specs.Spec{
				Process: &specs.Process{
					Args: []string{"true"}, Cwd: "/",
					Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN"}},
				},
				Root: &specs.Root{Path: "/rootfs"},
			},
			LowerRoot: "/", Lowers: []string{"l"}, Upper: "/u", Work: "/w",
		}
	}
	if _, ok := Compile(cfg()); !ok {
		t.Fatal("a plain config does not compile")
	}
	tty := cfg()
	tty.Spec.Process.Terminal = true
	if b, ok := Compile(tty); !ok || !slices.Contains(PlanOps(b), "console") || !slices.Contains(PlanOps(b), "ctty") {
		t.Errorf("a terminal does not compile to its console and ctty steps")
	}
	// A Detached container's shim clones a plan init, DNS or not.
	for name, change := range map[string]func(*Config){
		"detached": func(c *Config) { c.Detached = true },
		"dns":      func(c *Config) { c.Detached, c.DNS = true, &DNSConfig{} },
	} {
		c := cfg()
		change(c)
		if _, ok := Compile(c); !ok {
			t.Errorf("%s: not compiled, want a plan", name)
		}
	}
	for name, change := range map[string]func(*Config){
		"reaper": func(c *Config) { c.Reaper = true },
		"copy-up": func(c *Config) {
			c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: "/v", Type: "bind", Source: "/v", Options: []string{"rbind", CopyUpOption}})
		},
		"unknown capability": func(c *Config) {
			c.Spec.Process.Capabilities.Bounding = append(c.Spec.Process.Capabilities.Bounding, "CAP_NOPE")
		},
		"unknown rlimit": func(c *Config) {
			c.Spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOPE"}}
		},
		"no command": func(c *Config) { c.Spec.Process.Args = nil },
		// plan.c's strings end at a NUL: the Go init fails on it instead.
		"NUL in an argument": func(c *Config) { c.Spec.Process.Args = []string{"true\x00/x"} },
		"NUL in a mount destination": func(c *Config) {
			c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: "/data\x00/../etc", Type: "tmpfs", Source: "tmpfs"})
		},
		// MAX_ARGS bounds arguments and environment together.
		"arguments and environment above MAX_ARGS": func(c *Config) {
			c.Spec.Process.Args = make([]string, maxPlanArgs/2+1)
			c.Spec.Process.Env = make([]string, maxPlanArgs/2)
		},
		"plan above 16 MiB": func(c *Config) { c.Spec.Process.Env = []string{strings.Repeat("x", maxPlanSize)} },
		"no root":           func(c *Config) { c.Spec.Root = nil },
	} {
		c := cfg()
		change(c)
		if _, ok := Compile(c); ok {
			t.Errorf("%s: compiled, want the Go init", name)
		}
	}
}
