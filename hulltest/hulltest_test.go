package hulltest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/hulltest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// echoImage is busybox plus testdata/echo at /echo, EXPOSE 8080, Cmd /echo.
func echoImage(t *testing.T) string {
	t.Helper()
	return hulltest.Image(t, hulltest.WithBusybox(), hulltest.WithGoBinary("./testdata/echo"),
		hulltest.WithExpose("8080/tcp"))
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestRunEndpoint: Run publishes the EXPOSEd port on 127.0.0.1, labels
// the container with the test, and removes it when the test ends.
func TestRunEndpoint(t *testing.T) {
	t.Parallel()
	ref := echoImage(t)
	var c *hull.Container
	t.Run("run", func(t *testing.T) {
		c = hulltest.Run(t, ref, hull.WithEnv("DELAY=300ms"))
		hulltest.WaitFor(t, c, hulltest.ForHTTP("8080/tcp", "/healthz", 200))
		addr := hulltest.Endpoint(t, c, "8080/tcp")
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Errorf("endpoint %s: want 127.0.0.1:port", addr)
		}
		if code, body := get(t, "http://"+addr+"/x"); code != 200 || body != "hello /x\n" {
			t.Errorf("GET /x: %d %q", code, body)
		}
		in, err := c.Inspect(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got := in.Config.Labels[hulltest.LabelTest]; got != t.Name() {
			t.Errorf("label %s = %q, want %q", hulltest.LabelTest, got, t.Name())
		}
		if out := hulltest.Exec(t, c, "cat", "/etc/passwd"); !strings.HasPrefix(out, "root:") {
			t.Errorf("exec: %q", out)
		}
	})
	if _, err := c.Inspect(t.Context()); !errors.Is(err, hull.ErrNotFound) {
		t.Errorf("after the subtest: inspect: %v, want ErrNotFound", err)
	}
}

// TestWaitStrategies: every strategy comes true on a container where it
// should, alone and combined.
func TestWaitStrategies(t *testing.T) {
	t.Parallel()
	c := hulltest.Run(t, echoImage(t), hull.WithEnv("DELAY=400ms"))
	start := time.Now()
	hulltest.WaitFor(t, c,
		hulltest.ForAll(hulltest.ForLog(`^listening on :\d+$`), hulltest.ForPort("8080")),
		hulltest.ForAny(hulltest.ForLog("never printed"), hulltest.ForHTTP("8080/tcp", "/healthz", 200)),
		hulltest.ForExec("cat", "/echo").Within(10*time.Second),
		hulltest.ForLogCount("listening", 1),
	)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("waited %v: the health check cannot be ready before 400ms", d)
	}
	if code, _ := get(t, "http://"+hulltest.Endpoint(t, c, "8080/tcp")+"/healthz"); code != 200 {
		t.Errorf("after the wait: /healthz %d", code)
	}
}

// TestWaitFailure: a wait that cannot come true fails in time, naming the
// strategy, the last check and the container's last log lines; one on a
// container that exited fails at once.
func TestWaitFailure(t *testing.T) {
	t.Parallel()
	ref := hulltest.Image(t, hulltest.WithBusybox())
	c := hulltest.Run(t, ref, hull.WithCmd("sh", "-c", "echo first; echo second >&2; exec sleep 60"))
	start := time.Now()
	err := hulltest.ForAll(hulltest.ForLog("second"), hulltest.ForLog("third")).Within(time.Second).Wait(t.Context(), c)
	var we *hulltest.WaitError
	if !errors.As(err, &we) {
		t.Fatalf("err %v, want a *WaitError", err)
	}
	if d := time.Since(start); d < time.Second || d > 5*time.Second {
		t.Errorf("failed after %v, want 1s", d)
	}
	msg := err.Error()
	for _, want := range []string{`wait for log "third"`, "context deadline exceeded", "0 of 1 matching lines", "\tfirst", "\tsecond"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error does not wrap DeadlineExceeded: %v", err)
	}

	exited := hulltest.Run(t, ref, hull.WithCmd("sh", "-c", "echo bye; exit 3"))
	start = time.Now()
	err = hulltest.ForPort("80/tcp").Wait(t.Context(), exited)
	if err == nil || !strings.Contains(err.Error(), "exited with code 3") || !strings.Contains(err.Error(), "\tbye") {
		t.Errorf("wait on an exited container: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("wait on an exited container took %v", d)
	}
}

// TestNetwork: two containers on a test's network reach each other by
// alias; the network goes when the test ends.
func TestNetwork(t *testing.T) {
	t.Parallel()
	ref := echoImage(t)
	var name string
	t.Run("net", func(t *testing.T) {
		n := hulltest.Network(t)
		name = n.Name()
		srv := hulltest.Run(t, ref, hull.WithNetwork(n, hull.WithAlias("web")))
		hulltest.WaitFor(t, srv, hulltest.ForPort("8080/tcp"))
		client := hulltest.Run(t, ref, hull.WithNetwork(n), hull.WithCmd("sleep", "60"))
		if out := hulltest.Exec(t, client, "wget", "-qO-", "http://web:8080/by-alias"); out != "hello /by-alias\n" {
			t.Errorf("wget by alias: %q", out)
		}
	})
	if _, err := hulltest.Runtime(t).Network(t.Context(), name); !errors.Is(err, hull.ErrNotFound) {
		t.Errorf("network %s after its test: %v, want ErrNotFound", name, err)
	}
}

// TestRegistry: an image pushed to Registry pulls into another root.
func TestRegistry(t *testing.T) {
	t.Parallel()
	host := hulltest.Registry(t)
	rt := hulltest.Runtime(t)
	ctx := t.Context()
	ref := hulltest.Image(t, hulltest.WithFile("/hello.txt", []byte("hi\n"), 0o644))
	target := host + "/hulltest/hello:1"
	if err := rt.Tag(ctx, ref, target); err != nil {
		t.Fatal(err)
	}
	if err := rt.Push(ctx, target); err != nil {
		t.Fatal(err)
	}
	other, err := hull.Open(ctx, hull.WithRoot(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	img, err := other.Pull(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	src, err := rt.Image(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID() != src.ID() {
		t.Errorf("pulled %s, pushed %s", img.ID(), src.ID())
	}
}

// BenchmarkRun is a test's container: Run (image present, its port
// published), an exec, and its removal (here at once rather than in
// Cleanup, which then finds it gone).
func BenchmarkRun(b *testing.B) {
	ref := hulltest.Image(b, hulltest.WithBusybox(), hulltest.WithExpose("80/tcp"))
	for b.Loop() {
		c := hulltest.Run(b, ref, hull.WithCmd("sleep", "60"))
		hulltest.Exec(b, c, "true")
		if err := c.Remove(b.Context(), hull.WithForce()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestImageOptions: files from the host and a configuration of the test's
// own reach the container; the same options make the same image.
func TestImageOptions(t *testing.T) {
	t.Parallel()
	host := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(host, []byte("#!/bin/sh\necho \"$GREETING from $(pwd)\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := []hulltest.ImageOption{
		hulltest.WithBusybox(),
		hulltest.WithHostFile(host, "/usr/local/bin/greet"),
		hulltest.WithConfig(ocispec.ImageConfig{
			Env:        []string{"PATH=/usr/local/bin:/bin", "GREETING=hi"},
			WorkingDir: "/srv",
			Cmd:        []string{"sleep", "60"},
		}),
	}
	ref := hulltest.Image(t, opts...)
	if again := hulltest.Image(t, opts...); again != ref {
		t.Errorf("same options, another image: %s, %s", ref, again)
	}
	c := hulltest.Run(t, ref)
	if out := hulltest.Exec(t, c, "greet"); out != "hi from /srv\n" {
		t.Errorf("greet: %q", out)
	}
	if s := hulltest.ForAll(hulltest.ForPort("80"), hulltest.ForLog("x")).String(); s != `all of (port 80; log "x")` {
		t.Errorf("String: %s", s)
	}
}

// TestForHealthy: ForHealthy returns once the health check passes, and
// fails at once, wrapping hull.ErrUnhealthy, when it reports unhealthy.
func TestForHealthy(t *testing.T) {
	t.Parallel()
	ref := hulltest.Image(t, hulltest.WithBusybox())
	check := func(test string, retries int) hull.RunOption {
		return hull.WithHealthcheck(hull.Healthcheck{Test: []string{"CMD-SHELL", test},
			Interval: 100 * time.Millisecond, Timeout: time.Second, Retries: retries})
	}
	c := hulltest.Run(t, ref, check("test -e /tmp/ready", 50), hull.WithCmd("sh", "-c", "sleep 0.3; touch /tmp/ready; exec sleep 60"))
	start := time.Now()
	hulltest.WaitFor(t, c, hulltest.ForHealthy())
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("healthy after %v, before the check could pass", d)
	}
	sick := hulltest.Run(t, ref, check("false", 1), hull.WithCmd("sleep", "60"))
	err := hulltest.ForHealthy().Within(20*time.Second).Wait(t.Context(), sick)
	var we *hulltest.WaitError
	if !errors.As(err, &we) || we.Wait != "healthy" || !errors.Is(err, hull.ErrUnhealthy) {
		t.Fatalf("err %v, want a WaitError for \"healthy\" wrapping ErrUnhealthy", err)
	}
}
