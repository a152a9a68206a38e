//go:build linux

package hull

import (
	"errors"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestImageOptions: ImageOption is one type for Pull, Push, Load and
// Import; each records its setting, and a call refuses the options it has
// no use for, by name, rather than ignoring them.
func TestImageOptions(t *testing.T) {
	t.Parallel()
	var got []Progress
	cfg, err := imageOptions("Pull", []ImageOption{WithProgress(func(p Progress) { got = append(got, p) }), WithPlatform("linux/arm64/v8")}, "WithProgress", "WithPlatform")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.progress(Progress{Status: "x"}); len(got) != 1 || cfg.platform == nil || cfg.platform.Architecture != "arm64" || cfg.platform.Variant != "v8" {
		t.Errorf("recorded %+v, progress %v", cfg, got)
	}
	if _, err := imageOptions("Pull", []ImageOption{WithPlatform("linux")}, "WithPlatform"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad platform: %v", err)
	}

	rt := openTest(t)
	ctx := t.Context()
	for name, call := range map[string]func() error{
		"WithImportMessage": func() error { _, err := rt.Pull(ctx, "localhost:1/none:1", WithImportMessage("m")); return err },
		"WithPlatform":      func() error { return rt.Push(ctx, "localhost:1/none:1", WithPlatform("linux/amd64")) },
		"WithProgress": func() error {
			_, err := rt.Load(ctx, strings.NewReader(""), WithProgress(func(Progress) {}))
			return err
		},
		"WithImportConfig": func() error {
			_, err := rt.Load(ctx, strings.NewReader(""), WithImportConfig(ocispec.ImageConfig{}))
			return err
		},
		"WithRemoveVolumes": func() error { _, err := rt.RemoveImage(ctx, "none:1", WithRemoveVolumes()); return err },
	} {
		if err := call(); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s where it does not apply: %v, want ErrInvalidArgument naming it", name, err)
		}
	}
	_, err = rt.Import(ctx, strings.NewReader(""), "", WithProgress(func(Progress) {}))
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "WithProgress") {
		t.Errorf("Import WithProgress: %v, want ErrInvalidArgument", err)
	}
}

// TestLogsOptions records each LogsOption and refuses a negative tail.
func TestLogsOptions(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	since := time.Now()
	c := logsConfig{tail: -1}
	for _, o := range []LogsOption{WithLogsStdout(&b), WithLogsStderr(&b), WithLogsFollow(), WithLogsSince(since), WithLogsTail(3)} {
		if err := o(&c); err != nil {
			t.Fatal(err)
		}
	}
	if c.stdout != &b || c.stderr != &b || !c.follow || !c.since.Equal(since) || c.tail != 3 {
		t.Errorf("recorded %+v", c)
	}
	if err := WithLogsTail(-1)(&c); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("WithLogsTail(-1): %v", err)
	}
}

// TestRemoveAndListOptions: the options of Remove, RemoveImage and
// Containers record what they say.
func TestRemoveAndListOptions(t *testing.T) {
	t.Parallel()
	cfg, err := removeOptions([]RemoveOption{WithForce(), WithRemoveVolumes()})
	if err != nil || !cfg.force || !cfg.volumes {
		t.Errorf("remove options %+v %v", cfg, err)
	}
	var cc containersConfig
	for _, o := range []ContainersOption{WithAllContainers(), WithFilterName("a"), WithFilterLabel("k", "")} {
		if err := o(&cc); err != nil {
			t.Fatal(err)
		}
	}
	if !cc.all || len(cc.match) != 2 {
		t.Errorf("containers options %+v", cc)
	}
}
