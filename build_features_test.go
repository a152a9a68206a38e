//go:build linux

package hull

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// imageFile returns the content of p in img (read through its layers).
func imageFile(t *testing.T, rt *Runtime, img *Image, p string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(mountImage(t, rt, img), p))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(data)
}

// TestBuildDockerignore: .dockerignore patterns with ** and ! exceptions
// decide what COPY . sees.
func TestBuildDockerignore(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	dir := buildDir(t, map[string]string{
		".dockerignore":      "# comment\n**/*.log\nsecret\nbuild/\n!build/keep.txt\n",
		"app.txt":            "app",
		"debug.log":          "x",
		"sub/deep/trace.log": "x",
		"sub/deep/ok.txt":    "ok",
		"secret":             "s",
		"build/out.bin":      "x",
		"build/keep.txt":     "keep",
		"Dockerfile":         "FROM busybox:test\nCOPY . /ctx/\nRUN cd /ctx && find . -type f | sort > /list\n",
	})
	img, _, err := buildTest(t, rt, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := "./.dockerignore\n./Dockerfile\n./app.txt\n./build/keep.txt\n./sub/deep/ok.txt\n"
	if got := imageFile(t, rt, img, "list"); got != want {
		t.Errorf("copied:\n%s\nwant:\n%s", got, want)
	}
	// An excluded file named as a source is not found.
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox:test\nCOPY secret /s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := buildTest(t, rt, dir); err == nil || !strings.Contains(err.Error(), "Dockerfile:2:") {
		t.Errorf("COPY of an excluded file: %v", err)
	}
}

// TestBuildHeredoc: RUN and COPY heredocs, as BuildKit runs them.
func TestBuildHeredoc(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	dir := buildDir(t, map[string]string{"Dockerfile": `FROM busybox:test
ARG WHO=heredoc
RUN <<EOF
echo one > /h
echo two >> /h
EOF
RUN cat <<EOT > /h2
from a $WHO
EOT
COPY <<EOF /etc/greeting
hello ${WHO}
EOF
RUN <<EOF
#!/bin/sh
echo "script $0" > /script
EOF
`})
	img, _, err := buildTest(t, rt, dir)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"h": "one\ntwo\n", "h2": "from a heredoc\n", "etc/greeting": "hello heredoc\n", "script": "script /dev/pipes/EOF\n"} {
		if got := imageFile(t, rt, img, p); got != want {
			t.Errorf("/%s = %q, want %q", p, got, want)
		}
	}
}

// TestBuildVariables: ARG and ENV expansion, as BuildKit's documentation
// describes it: ARG before FROM, defaults, build args, ${x:-d},
// ${x:+a}, escapes, ENV over ARG, and what RUN sees.
func TestBuildVariables(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	dir := buildDir(t, map[string]string{"Dockerfile": `ARG BASE=busybox:test
ARG GLOBAL=g
FROM ${BASE}
ARG GLOBAL
ARG V=default
ARG FROMCLI
ENV A=${V}-a B=${UNSET:-fallback} C=${V:+set} D=\$V E="${GLOBAL} x"
ENV V=env-wins
WORKDIR /w/${FROMCLI}
RUN echo "$V|$FROMCLI|$GLOBAL|$A|$B|$C|$D|$E" > /seen && pwd >> /seen
USER ${FROMCLI}:0
`})
	img, log, err := buildTest(t, rt, dir, WithBuildArg("FROMCLI", "cli"), WithBuildArg("NOTDECLARED", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if notes := slices.DeleteFunc(slices.Clone(log.evs), func(e BuildEvent) bool { return e.Kind != BuildNote }); len(notes) != 1 || !strings.Contains(notes[0].Line, "[NOTDECLARED]") {
		t.Errorf("notes %+v, want one about NOTDECLARED", notes)
	}
	cfg := img.Config()
	for _, e := range []string{"A=default-a", "B=fallback", "C=set", "D=$V", "E=g x", "V=env-wins"} {
		if !slices.Contains(cfg.Env, e) {
			t.Errorf("Env %q lacks %s", cfg.Env, e)
		}
	}
	if cfg.WorkingDir != "/w/cli" || cfg.User != "cli:0" {
		t.Errorf("WorkingDir %q User %q", cfg.WorkingDir, cfg.User)
	}
	if got := imageFile(t, rt, img, "seen"); got != "env-wins|cli|g|default-a|fallback|set|$V|g x\n/w/cli\n" {
		t.Errorf("RUN saw %q", got)
	}
	for _, h := range img.History() {
		if strings.Contains(h.CreatedBy, "NOTDECLARED") {
			t.Errorf("an undeclared build arg is in the history: %q", h.CreatedBy)
		}
	}
}

// TestBuildOnbuild: a base image's ONBUILD triggers run in the build that
// uses it, first, and are not inherited further.
func TestBuildOnbuild(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	base := buildDir(t, map[string]string{"Dockerfile": "FROM busybox:test\nONBUILD COPY marker /marker\nONBUILD RUN echo triggered >> /marker\n"})
	img, _, err := buildTest(t, rt, base, WithTags("onbuild:base"))
	if err != nil {
		t.Fatal(err)
	}
	conf, err := rt.dockerConfig(img)
	if err != nil || len(conf.Config.OnBuild) != 2 {
		t.Fatalf("base OnBuild %q %v", conf.Config.OnBuild, err)
	}
	child := buildDir(t, map[string]string{"marker": "from the child's context\n", "Dockerfile": "FROM onbuild:base\nRUN cat /marker > /seen\n"})
	img2, _, err := buildTest(t, rt, child)
	if err != nil {
		t.Fatal(err)
	}
	if got := imageFile(t, rt, img2, "seen"); got != "from the child's context\ntriggered\n" {
		t.Errorf("triggers gave %q", got)
	}
	if conf, _ := rt.dockerConfig(img2); len(conf.Config.OnBuild) != 0 {
		t.Errorf("triggers inherited: %q", conf.Config.OnBuild)
	}
}

// TestBuildStagesConcurrent: two independent stages run at the same
// time; the final stage copies from both.
func TestBuildStagesConcurrent(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	dir := buildDir(t, map[string]string{"Dockerfile": `FROM busybox:test AS a
RUN sleep 1; echo a > /a
FROM busybox:test AS b
RUN sleep 1; echo b > /b
FROM busybox:test
COPY --from=a /a /out/
COPY --from=b /b /out/
WORKDIR /made/by/workdir
`})
	img, log, err := buildTest(t, rt, dir)
	if err != nil {
		t.Fatal(err)
	}
	// Both RUN steps started before either was done.
	var started, doneFirst int
	for _, e := range log.evs {
		if !strings.HasPrefix(e.Instruction, "RUN sleep") {
			continue
		}
		switch e.Kind {
		case BuildStepStarted:
			started++
		case BuildStepDone:
			if doneFirst == 0 {
				doneFirst = started
			}
		}
	}
	if doneFirst != 2 {
		t.Errorf("the stages did not run concurrently: %d started before the first was done", doneFirst)
	}
	root := mountImage(t, rt, img)
	for p, want := range map[string]string{"out/a": "a\n", "out/b": "b\n"} {
		if data, _ := os.ReadFile(filepath.Join(root, p)); string(data) != want {
			t.Errorf("/%s = %q", p, data)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "made/by/workdir")); err != nil || !fi.IsDir() {
		t.Errorf("WORKDIR did not make its directory: %v", err)
	}
}

// TestBuildCancel: a build cancelled during a RUN step returns, moves no
// tag and leaves no container.
func TestBuildCancel(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	dir := buildDir(t, map[string]string{"Dockerfile": "FROM busybox:test\nRUN echo started; sleep 60\n"})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	start := time.Now()
	_, err := rt.Build(ctx, dir, WithTags("cancelled:1"), WithBuildProgress(func(e BuildEvent) {
		if e.Kind == BuildStepOutput && e.Line == "started" {
			cancel()
		}
	}))
	if err == nil || time.Since(start) > 30*time.Second {
		t.Fatalf("cancelled build: %v after %s", err, time.Since(start))
	}
	if _, err := rt.Image(t.Context(), "cancelled:1"); err == nil {
		t.Error("a cancelled build tagged its image")
	}
	if cs, _ := rt.Containers(t.Context(), WithAllContainers()); len(cs) != 0 {
		t.Errorf("%d containers left", len(cs))
	}
}

// TestBuildTwoRuntimesAtOnce: two Runtimes on one root (as two
// processes) build the same Dockerfile at the same time; both succeed,
// and a third build finds every step in the cache.
func TestBuildTwoRuntimesAtOnce(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	rt2, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	dir := buildDir(t, map[string]string{"f": "x", "Dockerfile": "FROM busybox:test\nCOPY f /f\nRUN echo $RANDOM > /r\nCMD [\"cat\", \"/r\"]\n"})
	errs := make(chan error, 2)
	for _, r := range []*Runtime{rt, rt2} {
		go func() {
			_, err := r.Build(t.Context(), dir, WithTags("twice:1"))
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	img, log, err := buildTest(t, rt, dir)
	if err != nil {
		t.Fatal(err)
	}
	if log.count(BuildStepCached, "") != 2 || log.count(BuildStepStarted, "RUN") != 0 {
		t.Errorf("third build: events %+v", log.evs)
	}
	if out := runOutput(t, rt, img.ID()); strings.TrimSpace(out) == "" {
		t.Errorf("the cached image prints %q", out)
	}
	if _, err := rt.Image(t.Context(), "twice:1"); err != nil {
		t.Error(err)
	}
}

// TestBuildStageThroughArg: FROM ${S} naming a stage builds that stage
// first; WithTarget stops at a stage and WithBuildLabels labels it.
func TestBuildStageThroughArg(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	dir := buildDir(t, map[string]string{"Dockerfile": "ARG S=first\nFROM busybox:test AS first\nRUN echo a > /a\nFROM ${S} AS second\nRUN cat /a > /b\nFROM second\nRUN exit 9\n"})
	img, _, err := buildTest(t, rt, dir, WithTarget("second"), WithBuildLabels(map[string]string{"built": "yes"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := imageFile(t, rt, img, "b"); got != "a\n" || img.Config().Labels["built"] != "yes" {
		t.Errorf("/b = %q, labels %v", got, img.Config().Labels)
	}
}

// TestBuildRunMounts: a cache mount keeps its content across builds (even
// WithNoCache) and stays out of the layers; a tmpfs mount too.
func TestBuildRunMounts(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	dir := buildDir(t, map[string]string{"Dockerfile": "FROM busybox:test\n" +
		"RUN --mount=type=cache,target=/cache,sharing=locked echo x >> /cache/log && wc -l < /cache/log > /count\n" +
		"RUN --mount=type=tmpfs,target=/scratch touch /scratch/f && ls /scratch > /tmpfs\n"})
	for i, want := range []string{"1\n", "2\n"} {
		var opts []BuildOption
		if i > 0 {
			opts = append(opts, WithNoCache())
		}
		img, _, err := buildTest(t, rt, dir, opts...)
		if err != nil {
			t.Fatal(err)
		}
		root := mountImage(t, rt, img)
		if data, _ := os.ReadFile(filepath.Join(root, "count")); strings.TrimSpace(string(data)) != strings.TrimSpace(want) {
			t.Errorf("build %d: /count = %q, want %q", i+1, data, want)
		}
		if data, _ := os.ReadFile(filepath.Join(root, "tmpfs")); string(data) != "f\n" {
			t.Errorf("build %d: /tmpfs = %q", i+1, data)
		}
		for _, p := range []string{"cache/log", "scratch/f"} {
			if _, err := os.Stat(filepath.Join(root, p)); err == nil {
				t.Errorf("build %d: /%s is in the image", i+1, p)
			}
		}
	}
}

// TestBuildCopySemantics: Docker's COPY rules: globs, a directory's
// contents, a file into an existing directory, a symlink source copies
// its target, --chmod, ADD of a plain file and of a gzip tar.
func TestBuildCopySemantics(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	dir := buildDir(t, map[string]string{
		"a.txt": "a", "b.txt": "b", "c.md": "c", "tree/x/y": "y", "plain": "p",
		"Dockerfile": "FROM busybox:test\n" +
			"COPY *.txt /globbed/\n" +
			"COPY tree /t\n" +
			"COPY c.md /etc\n" +
			"COPY link /linked\n" +
			"COPY --chmod=600 a.txt /private\n" +
			"ADD plain /added\n" +
			"ADD arch.tgz /opt/\n" +
			"RUN find /globbed /t /etc/c.md /linked /private /added /opt -type f | sort > /list && stat -c %a /private > /mode\n",
	})
	if err := os.Symlink("tree/x/y", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	cmd := exec.Command("tar", "-czf", filepath.Join(dir, "arch.tgz"), "-C", filepath.Join(dir, "tree"), "x")
	cmd.Stderr = &buf
	if err := cmd.Run(); err != nil {
		t.Skipf("tar: %v %s", err, buf.String())
	}
	img, _, err := buildTest(t, rt, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := "/added\n/etc/c.md\n/globbed/a.txt\n/globbed/b.txt\n/linked\n/opt/x/y\n/private\n/t/x/y\n"
	if got := imageFile(t, rt, img, "list"); got != want {
		t.Errorf("files:\n%s\nwant:\n%s", got, want)
	}
	if got := imageFile(t, rt, img, "mode"); got != "600\n" {
		t.Errorf("--chmod=600 gave %q", got)
	}
	if got := imageFile(t, rt, img, "linked"); got != "y" {
		t.Errorf("/linked = %q", got)
	}
}

// TestBuildHistory: the history a build records is BuildKit's, what
// `docker build` records with its default builder: the same CreatedBy
// text for each instruction (the formats of BuildKit v0.35.1's
// dockerfile2llb, the parser's version in go.mod), an entry per ARG, none
// for ONBUILD, and layers only where the step made one.
func TestBuildHistory(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	base, err := rt.Image(t.Context(), "busybox:test")
	if err != nil {
		t.Fatal(err)
	}
	dir := buildDir(t, map[string]string{"f.txt": "f\n", "Dockerfile": `FROM busybox:test
ARG V=1
ARG EMPTY
ENV A=b C=d
LABEL x=y
WORKDIR /w
COPY --chmod=0644 f.txt /w/
RUN echo $V > /v
CMD ["sh", "-c", "echo hi"]
ENTRYPOINT ["/bin/sh"]
EXPOSE 80 53/udp
VOLUME ["/data"]
USER 0:0
STOPSIGNAL SIGINT
HEALTHCHECK --interval=2s --retries=2 CMD true
SHELL ["/bin/sh", "-c"]
ONBUILD RUN true
`})
	img, _, err := buildTest(t, rt, dir)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		by    string
		empty bool
	}
	want := []entry{
		{"ARG V=1", true},
		{"ARG EMPTY", true},
		{"ENV A=b C=d", true},
		{"LABEL x=y", true},
		{"WORKDIR /w", false},
		{"COPY --chmod=0644 f.txt /w/ # buildkit", false},
		{"RUN |2 V=1 EMPTY= /bin/sh -c echo $V > /v # buildkit", false},
		{`CMD ["sh" "-c" "echo hi"]`, true},
		{`ENTRYPOINT ["/bin/sh"]`, true},
		{"EXPOSE 53/udp 80/tcp", true}, // the parser sorts the ports
		{"VOLUME [/data]", true},
		{"USER 0:0", true},
		{"STOPSIGNAL SIGINT", true},
		{"HEALTHCHECK {Test:[CMD-SHELL true] Interval:2s Timeout:0s StartPeriod:0s StartInterval:0s Retries:2}", true},
		{"SHELL [/bin/sh -c]", true},
	}
	hist := img.History()
	baseLen := len(base.History())
	if len(hist) != baseLen+len(want) {
		t.Fatalf("%d history entries after the base's %d, want %d: %+v", len(hist)-baseLen, baseLen, len(want), hist[baseLen:])
	}
	for i, w := range want {
		h := hist[baseLen+i]
		if h.CreatedBy != w.by || h.EmptyLayer != w.empty || h.Comment != "buildkit.dockerfile.v0" {
			t.Errorf("entry %d: %q (empty %v, comment %q), want %q (empty %v)", i, h.CreatedBy, h.EmptyLayer, h.Comment, w.by, w.empty)
		}
	}
}
