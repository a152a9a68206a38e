//go:build linux

package hull

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// buildDir writes files (name -> content) into a new context directory.
func buildDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// eventLog records a build's events.
type eventLog struct {
	mu  sync.Mutex
	evs []BuildEvent
}

func (l *eventLog) add(e BuildEvent) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
}

// kinds returns, per step instruction prefix, the kinds of events seen.
func (l *eventLog) count(kind BuildEventKind, prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.evs {
		if e.Kind == kind && strings.HasPrefix(e.Instruction, prefix) {
			n++
		}
	}
	return n
}

func buildTest(t *testing.T, rt *Runtime, dir string, opts ...BuildOption) (*Image, *eventLog, error) {
	t.Helper()
	log := &eventLog{}
	img, err := rt.Build(t.Context(), dir, append(opts, WithBuildProgress(log.add))...)
	return img, log, err
}

// runOutput runs ref with opts and returns what it printed.
func runOutput(t *testing.T, rt *Runtime, ref string, opts ...RunOption) string {
	t.Helper()
	st, out, err := runRef(t, rt, ref, opts...)
	if err != nil || st.ExitCode != 0 {
		t.Fatalf("run %s: %+v %v %q", ref, st, err, out)
	}
	return out
}

// TestBuildMultiStageGo builds a small image holding a static Go binary
// that an earlier stage produced. The builder stage's content is a
// program the test compiles on the host with the host's Go toolchain
// (copying the whole toolchain into the context would take most of the
// test's time); the builder stage copies and renames it, and the final
// stage FROM scratch takes it with COPY --from.
func TestBuildMultiStageGo(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go toolchain to compile the program the image holds")
	}
	dir := buildDir(t, map[string]string{
		"main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from a built image\") }\n",
		"go.mod":  "module hello\n\ngo 1.22\n",
		"Dockerfile": `# syntax=docker/dockerfile:1
ARG OUT=/out
FROM busybox:test AS builder
ARG OUT
WORKDIR /src
COPY bin/hello ./
RUN mkdir -p $OUT && cp hello $OUT/app && chmod 755 $OUT/app

FROM busybox:test AS unused
RUN exit 1

FROM scratch
ARG OUT
COPY --from=builder ${OUT}/app /app
ENTRYPOINT ["/app"]
LABEL org.example.kind=test
`,
	})
	cmd := exec.Command(goBin, "build", "-o", filepath.Join(dir, "bin", "hello"), ".")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	img, log, err := buildTest(t, rt, dir, WithTags("hello:built", "hello:other"))
	if err != nil {
		t.Fatal(err)
	}
	if log.count(BuildStepStarted, "RUN exit 1") != 0 {
		t.Error("a stage the target does not need was built")
	}
	if log.count(BuildNote, "") != 1 {
		t.Errorf("want one note (the syntax directive), got %d", log.count(BuildNote, ""))
	}
	cfg := img.Config()
	if !slices.Equal(cfg.Entrypoint, []string{"/app"}) || cfg.Labels["org.example.kind"] != "test" || len(img.Layers()) != 1 {
		t.Errorf("config %+v, %d layers", cfg, len(img.Layers()))
	}
	if !slices.Equal(img.RepoTags(), []string{"hello:built", "hello:other"}) {
		t.Errorf("tags %v", img.RepoTags())
	}
	if out := runOutput(t, rt, "hello:built"); out != "hello from a built image\n" {
		t.Errorf("the image printed %q", out)
	}
}

// TestBuildCache: an unchanged rebuild starts nothing and gives the same
// image; changing one copied file rebuilds from its COPY on only.
func TestBuildCache(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	dir := buildDir(t, map[string]string{
		"a.txt": "one\n",
		"Dockerfile": `FROM busybox:test
ENV A=1
RUN echo $A > /r1 && cat /proc/sys/kernel/random/uuid >> /r1
COPY a.txt /a.txt
RUN cat /a.txt /r1 > /copied
CMD ["cat", "/copied"]
`,
	})
	img1, log1, err := buildTest(t, rt, dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := log1.count(BuildStepStarted, "RUN"); n != 2 {
		t.Errorf("first build: %d RUN steps started, want 2", n)
	}
	out1 := runOutput(t, rt, img1.ID())
	if !strings.HasPrefix(out1, "one\n1\n") {
		t.Fatalf("image prints %q", out1)
	}
	img2, log2, err := buildTest(t, rt, dir)
	if err != nil {
		t.Fatal(err)
	}
	if img2.ID() != img1.ID() {
		t.Errorf("unchanged rebuild made %s, want %s", img2.ID(), img1.ID())
	}
	if n := log2.count(BuildStepStarted, ""); n != 1 { // FROM only
		t.Errorf("unchanged rebuild started %d steps, want only FROM", n)
	}
	if n := log2.count(BuildStepCached, ""); n != 3 {
		t.Errorf("unchanged rebuild: %d steps cached, want 3", n)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img3, log3, err := buildTest(t, rt, dir)
	if err != nil {
		t.Fatal(err)
	}
	if log3.count(BuildStepCached, "RUN echo") != 1 || log3.count(BuildStepStarted, "COPY") != 1 || log3.count(BuildStepStarted, "RUN cat") != 1 {
		t.Errorf("after a change: events %+v", log3.evs)
	}
	out3 := runOutput(t, rt, img3.ID())
	if out3 != strings.Replace(out1, "one", "two", 1) {
		t.Errorf("rebuilt image prints %q, want the first RUN's output kept: %q", out3, out1)
	}
	// WithNoCache runs everything again.
	_, log4, err := buildTest(t, rt, dir, WithNoCache())
	if err != nil {
		t.Fatal(err)
	}
	if log4.count(BuildStepCached, "") != 0 || log4.count(BuildStepStarted, "RUN") != 2 {
		t.Errorf("no-cache build: events %+v", log4.evs)
	}
}

// TestBuildErrors: each error names the Dockerfile's line; a failing RUN
// gives its exit code and last output; nothing is tagged or left behind.
func TestBuildErrors(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	for _, tc := range []struct {
		name, dockerfile string
		line             int
		sentinel         error
	}{
		{"unknown instruction", "FROM busybox:test\nFROBNICATE x\n", 2, ErrInvalidDockerfile},
		{"bad flag", "FROM busybox:test\nCOPY --nope=1 a /a\n", 2, ErrInvalidDockerfile},
		{"no FROM", "RUN true\n", 1, ErrInvalidDockerfile},
		{"missing source", "FROM busybox:test\n\nCOPY missing.txt /x\n", 3, ErrInvalidDockerfile},
		{"mount", "FROM busybox:test\nRUN --mount=type=secret,id=x true\n", 2, ErrInvalidDockerfile},
		{"remote ADD", "FROM busybox:test\nADD https://example.com/x /x\n", 2, ErrInvalidDockerfile},
		{"stopsignal", "FROM busybox:test\nSTOPSIGNAL what?\n", 2, ErrInvalidDockerfile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := buildDir(t, map[string]string{"Dockerfile": tc.dockerfile})
			_, err := rt.Build(t.Context(), dir, WithTags("broken:1"))
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("error %v, want %v", err, tc.sentinel)
			}
			if want := "Dockerfile:" + strconv.Itoa(tc.line) + ":"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		})
	}
	other := "linux/s390x"
	if runtime.GOARCH == "s390x" {
		other = "linux/amd64"
	}
	dir := buildDir(t, map[string]string{"Dockerfile": "FROM --platform=" + other + " busybox:test\n"})
	if _, err := rt.Build(t.Context(), dir); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "Dockerfile:1:") {
		t.Errorf("FROM --platform=%s: %v", other, err)
	}
	if _, err := rt.Build(t.Context(), dir, WithBuildPlatform(other)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("WithBuildPlatform(%s): %v", other, err)
	}
	dir = buildDir(t, map[string]string{"Dockerfile": "FROM busybox:test\nRUN echo first; echo last words; exit 3\n"})
	_, err := rt.Build(t.Context(), dir, WithTags("broken:1"))
	var be *BuildError
	if !errors.As(err, &be) || be.ExitCode != 3 || be.Line != 2 || !slices.Contains(be.Output, "last words") {
		t.Fatalf("failing RUN: %v (%+v)", err, be)
	}
	if _, err := rt.Image(t.Context(), "broken:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a failed build tagged its image: %v", err)
	}
	cs, err := rt.Containers(t.Context(), WithAllContainers())
	if err != nil || len(cs) != 0 {
		t.Errorf("containers left behind: %d %v", len(cs), err)
	}
}

// TestBuildOptions: bad option values fail naming the option, before
// anything is read.
func TestBuildOptions(t *testing.T) {
	for _, o := range []BuildOption{
		WithTags(""), WithTags("Bad Name"), WithBuildArg("", "x"), WithBuildArg("A=B", "x"), WithTarget(""),
		WithBuildNetwork("container:x"), WithBuildPlatform("linux"), WithDockerfile(""), WithDockerfileContent(nil),
	} {
		var c buildConfig
		if err := o(&c); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "With") {
			t.Errorf("%v", err)
		}
	}
	var c buildConfig
	if err := WithDockerfile("x")(&c); err != nil {
		t.Fatal(err)
	}
	if err := WithDockerfileContent(strings.NewReader(""))(&c); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("both Dockerfile options: %v", err)
	}
}
