// Package examples_test builds every program under examples/ and runs it,
// so that what a newcomer runs first is tested like the library. The
// programs need Linux, root and the host's static busybox (Debian's
// busybox-static); the tests skip with the reason where those are missing.
// They use only loopback and the bridges the programs make: run them in a
// network namespace of their own (scripts/test.sh does).
package examples_test

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// requireRootBusybox skips the test unless it runs as root on Linux with a
// static /bin/busybox, which the examples make their images from.
func requireRootBusybox(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the examples run containers: Linux only")
	}
	if os.Geteuid() != 0 {
		t.Skip("the examples run containers: needs root")
	}
	f, err := elf.Open("/bin/busybox")
	if err != nil {
		t.Skip("busybox-static not installed: apt-get install busybox-static")
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Skip("/bin/busybox is not statically linked: apt-get install busybox-static")
		}
	}
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// build compiles every example once per test binary, into a directory
// removed by TestMain.
func build(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "hull-examples-")
		if buildErr != nil {
			return
		}
		// The go command that runs this test, else the one on PATH.
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(gobin); err != nil {
			gobin = "go"
		}
		// Every program here, those added later too.
		mains, _ := filepath.Glob("*/main.go")
		args := []string{"build", "-o", binDir + "/"}
		for _, m := range mains {
			args = append(args, "./"+filepath.Dir(m))
		}
		cmd := exec.Command(gobin, args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = &buildError{err, out}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + string(e.out) }

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// runExample runs an example's binary with args, fails the test if it
// does not exit 0 within the timeout, and returns its standard output.
// Its temporary files go to tmp.
func runExample(t *testing.T, tmp, name string, timeout time.Duration, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), filepath.Join(build(t), name), args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	timer := time.AfterFunc(timeout, func() { cmd.Process.Kill() })
	err := cmd.Run()
	timer.Stop()
	t.Logf("%s %s: %v\n%s", name, strings.Join(args, " "), time.Since(start).Round(time.Millisecond), stdout.String())
	if err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// requireLines fails the test unless each pattern matches a line of out,
// in order.
func requireLines(t *testing.T, out string, patterns ...string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	i := 0
	for _, p := range patterns {
		re := regexp.MustCompile(p)
		for i < len(lines) && !re.MatchString(lines[i]) {
			i++
		}
		if i == len(lines) {
			t.Fatalf("no line matching %q (in order) in:\n%s", p, out)
		}
		i++
	}
}

func TestQuickstart(t *testing.T) {
	requireRootBusybox(t)
	tmp := t.TempDir()
	out := runExample(t, tmp, "quickstart", 2*time.Minute)
	requireLines(t, out,
		`^image +quickstart/busybox:1 [0-9a-f]{12}, `,
		`^volume +site at .*/hull-quickstart-.*/volumes/site/_data$`,
		`^run +web \([0-9a-f]{12}\) on [0-9.]+, 80/tcp published at http://127\.0\.0\.1:\d+/$`,
		`^exec +wrote /www/index.html and /etc/motd: exit 0, "hello from a hull container"$`,
		`^http +GET http://127\.0\.0\.1:\d+/: 200 OK "hello from a hull container"$`,
		`^logs +starting httpd$`,
		`^logs +.*response:200`,
		`^commit +web -> quickstart/web:1 [0-9a-f]{12}, 2 layers$`,
		`^run +quickstart/web:1: exit 0, "built by quickstart"$`,
		`^stop +web: exit 143 `,
		`^done `)
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("quickstart left %d files in its TMPDIR, %s first", len(left), left[0].Name())
	}
}

func TestPipeline(t *testing.T) {
	requireRootBusybox(t)
	tmp := t.TempDir()
	out := runExample(t, tmp, "pipeline", 2*time.Minute)
	requireLines(t, out,
		`^registry +in-process at 127\.0\.0\.1:\d+$`,
		`^step +checkout: exit 0, "VERSION bin"$`,
		`^step +test: exit 0, "app 1\.0\.0 on Linux, args: test"$`,
		`^commit +build -> 127\.0\.0\.1:\d+/pipeline/app:1 [0-9a-f]{12}, 2 layers$`,
		`^push +127\.0\.0\.1:\d+/pipeline/app:1 and :latest; the registry's tags: 1 latest$`,
		`^pull +127\.0\.0\.1:\d+/pipeline/app:1 into a second root: [0-9a-f]{12}, digest sha256:[0-9a-f]{64}$`,
		`^run +staging: exit 0, "app 1\.0\.0 on Linux, args: staging"$`,
		`^save +127\.0\.0\.1:\d+/pipeline/app:1 to app\.tar, `,
		`^load +127\.0\.0\.1:\d+/pipeline/app:1 into a third root: [0-9a-f]{12}$`,
		`^run +production: exit 0, "app 1\.0\.0 on Linux, args: production"$`)
	// The image ID is the same on the three machines.
	ids := regexp.MustCompile(`(?m)(?:-> \S+|root:) ([0-9a-f]{12})`).FindAllStringSubmatch(out, -1)
	if len(ids) != 3 || ids[0][1] != ids[1][1] || ids[1][1] != ids[2][1] {
		t.Errorf("image IDs across the roots: %v, want three equal", ids)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("pipeline left %d files in its TMPDIR, %s first", len(left), left[0].Name())
	}
}

func TestOrchestrator(t *testing.T) {
	requireRootBusybox(t)
	tmp := t.TempDir()
	// -phase all runs up, reconcile and down each in a process of its own.
	out := runExample(t, tmp, "orchestrator", 3*time.Minute, "-ready-timeout=4s")
	requireLines(t, out,
		`^up +process (\d+) on `,
		`^images `,
		`^up +3 replicas: app-1 \(v1\), app-2 \(v1\), app-3 \(v1\)$`,
		`^client +GET http://app:8080/ on app-net: "v1"$`,
		`^reconcile +process \d+ on `,
		`^found +3 replicas started by another process$`,
		`^chaos +app-2 killed with SIGKILL$`,
		`^died +app-2 \(v1\): exit 137, seen in a "die" event$`,
		`^replaced +app-2 by app-4$`,
		`^updated +app-1 -> app-5$`,
		`^updated +app-3 -> app-6$`,
		`^updated +app-4 -> app-7$`,
		`^updated +app-5 -> app-8$`,
		`^failed +app-9 \(v3\) not ready: GET http://[0-9.]+:8080/: 404 Not Found$`,
		`^rollback +app-8 removed$`,
		`^ready +app-10 \(v2\)$`,
		`^rollback +back on v2$`,
		`^now +3 replicas: app-6 \(v2\), app-7 \(v2\), app-10 \(v2\)$`,
		`^client +GET http://app:8080/ on app-net: "v2"$`,
		`^down +process \d+ on `,
		`^down +removed 3 replicas, the network app-net and the images$`)
	pids := regexp.MustCompile(`(?m)process (\d+) on`).FindAllStringSubmatch(out, -1)
	if len(pids) != 3 || pids[0][1] == pids[1][1] {
		t.Errorf("phases ran in processes %v, want three different ones", pids)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("orchestrator left %d files in its TMPDIR, %s first", len(left), left[0].Name())
	}
}

func TestBuildExample(t *testing.T) {
	requireRootBusybox(t)
	tmp := t.TempDir()
	out := runExample(t, tmp, "build", time.Minute)
	requireLines(t, out,
		`^image +build/busybox:1 [0-9a-f]{12}, `,
		`^build +#1 `,
		`^built +build/site:1 [0-9a-f]{12} in .*: 5 RUN and COPY steps ran, 0 from the cache$`,
		`^run +build/site:1: exit 0$`,
		`^ +hello from a hull build 1\.0\.3$`,
		`^ +made by RUN on Linux$`,
		`^ +<h1>v1</h1>$`,
		`^ +/app/site: index\.html style\.css$`, // not debug.log: .dockerignore
		`^build +#2 `,
		`^built +build/site:1 [0-9a-f]{12} in .*: 2 RUN and COPY steps ran, 3 from the cache$`,
		`^ +<h1>version 2</h1>$`,
		`^build +#3 `,
		`^built +build/site:1 [0-9a-f]{12} in .*: all 5 RUN and COPY steps from the cache$`,
		`^same +#3 gave the image of #2: true `,
		`^done `)
	// The two stages build concurrently: their lines interleave, each
	// stage's in order.
	builds := regexp.MustCompile(`(?m)^build +#\d.*$`).Split(out, -1)
	if len(builds) != 4 {
		t.Fatalf("%d builds in the output, want 3", len(builds)-1)
	}
	requireLines(t, builds[1], `^step +1/10 version base `, `^step +3/10 version ran `)
	requireLines(t, builds[1], `^step +4/10 final +base `, `^step +5/10 final +config +ENV `,
		`^step +6/10 final +ran `, `^step +7/10 final +ran +.* COPY --from=version `, `^step +8/10 final +ran +.* COPY site/ `,
		`^output +9/10 final +\| index\.html: 12 bytes$`, `^step +9/10 final +ran `, `^step +10/10 final +config +CMD `)
	// Only the steps from the changed COPY on ran again.
	requireLines(t, builds[2], `^step +3/10 version cached `)
	requireLines(t, builds[2], `^step +6/10 final +cached `, `^step +7/10 final +cached `, `^step +8/10 final +ran `,
		`^output +9/10 final +\| index\.html: 19 bytes$`, `^step +9/10 final +ran `)
	requireLines(t, builds[3], `^step +8/10 final +cached `, `^step +9/10 final +cached `)
	if strings.Contains(builds[3], " ran ") {
		t.Errorf("unchanged build #3 ran a step:\n%s", builds[3])
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("build left %d files in its TMPDIR, %s first", len(left), left[0].Name())
	}
}

func TestComposeExample(t *testing.T) {
	requireRootBusybox(t)
	tmp := t.TempDir()
	out := runExample(t, tmp, "compose", time.Minute)
	requireLines(t, out,
		`^image +compose/busybox:1 [0-9a-f]{12}, `,
		`^load +.*/visits/compose\.yaml: project visits, services \[store web\]$`,
		`^up +Network visits_default  Created$`,
		`^up +Volume visits_data  Created$`,
		`^up +Container visits-store-1  Started$`,
		`^up +Container visits-web-1  Started$`,
		`^up +in .*: store healthy, then web started$`,
		`^ps +visits-store-1 +store +running \(healthy\)$`,
		`^ps +visits-web-1 +web +running +127\.0\.0\.1:\d+->80/tcp$`,
		`^network +visits_default: [0-9./]+, gateway [0-9.]+; visits-store-1 [0-9.]+, visits-web-1 [0-9.]+$`,
		`^http +GET http://127\.0\.0\.1:\d+/: 200 OK "hello from web, visitor 1"$`,
		`^http +GET http://127\.0\.0\.1:\d+/: 200 OK "hello from web, visitor 2"$`,
		`^http +GET http://127\.0\.0\.1:\d+/: 200 OK "hello from web, visitor 3"$`,
		`^http +GET http://127\.0\.0\.1:\d+/data/visits: 200 OK "3" `)
	// Logs merges the containers' lines: each container's in order.
	requireLines(t, out, `^logs +visits-store-1 \| store: counting visits in /data$`,
		`^logs +visits-store-1 \| store: visit 1$`, `^logs +visits-store-1 \| store: visit 3$`, `^down `)
	requireLines(t, out, `^logs +visits-web-1 +\| web: serving on port 80$`,
		`^logs +visits-web-1 +\| web: visitor 1 from `, `^logs +visits-web-1 +\| web: visitor 3 from `, `^down `)
	requireLines(t, out,
		`^down +Container visits-web-1  Removed$`,
		`^down +Container visits-store-1  Removed$`,
		`^down +Network visits_default  Removed$`,
		`^down +Volume visits_data  Removed$`)
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("compose left %d files in its TMPDIR, %s first", len(left), left[0].Name())
	}
}
