//go:build linux

package hull

import (
	"slices"
	"strings"
	"testing"
)

// TestCommitRunConfig: a commit starts from the container's run
// configuration (Create's options), as Docker, and the image runs it.
func TestCommitRunConfig(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	st, out, err := run(t, rt, WithEnv("A=1"), WithWorkdir("/w"), WithUser("1000"), WithTTY(),
		WithEntrypoint("sh", "-c"), WithCmd(`echo $A $(pwd) $(id -u)`), WithName("rc"))
	if err != nil || st.ExitCode != 0 {
		t.Fatalf("run: %+v %v %q", st, err, out)
	}
	c, err := rt.Container(t.Context(), "rc")
	if err != nil {
		t.Fatal(err)
	}
	img, err := c.Commit(t.Context(), "rc:1", WithCommitEnv("B=2"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := img.Config()
	if !slices.Equal(cfg.Entrypoint, []string{"sh", "-c"}) || !slices.Equal(cfg.Cmd, []string{`echo $A $(pwd) $(id -u)`}) ||
		cfg.WorkingDir != "/w" || cfg.User != "1000" {
		t.Errorf("committed config %+v", cfg)
	}
	env := strings.Join(cfg.Env, " ")
	if !strings.Contains(env, "A=1") || !strings.Contains(env, "B=2") || !strings.Contains(env, "PATH=") ||
		strings.Contains(env, "HOSTNAME=") || strings.Contains(env, "TERM=") {
		t.Errorf("committed env %q", cfg.Env)
	}
	var buf syncBuffer
	c2, err := rt.Run(t.Context(), "rc:1", WithStdout(&buf))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Remove(t.Context(), WithForce())
	if _, err := c2.Wait(t.Context()); err != nil || buf.String() != "1 /w 1000\n" {
		t.Errorf("the committed image runs %q %v", buf.String(), err)
	}
}
