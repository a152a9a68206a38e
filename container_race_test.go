//go:build linux

package hull

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The swap race of CVE-2018-15664 (`docker cp`): a container exchanges, in a tight loop,
// a directory of its own with a symlink to a host directory (renameat2 RENAME_EXCHANGE),
// while the host reads or writes its filesystem. Every host-side operation on a
// container's files must stay inside the container whatever the racer does: at worst the
// operation fails, or sees the container's own files.

// racerSource exchanges its two arguments for ever.
const racerSource = `package main

import (
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	for {
		unix.Renameat2(unix.AT_FDCWD, os.Args[1], unix.AT_FDCWD, os.Args[2], unix.RENAME_EXCHANGE)
	}
}
`

// raceHost is the host side of a race test: a directory the container's symlink points
// at, holding a file name whose content appears nowhere else (the container has a file of
// that name too, with other content) and a file only (no such name in the container).
type raceHost struct {
	dir, name, only, secret string
}

// raceTest returns a runtime with busybox:test that also has bin/racer, and the host
// directory the racer's symlink names.
func raceTest(t *testing.T) (*Runtime, raceHost) {
	t.Helper()
	rt := openTest(t)
	racer := buildRacer(t)
	files := append(testutil.BusyboxFiles(t), testutil.File{Name: "bin/racer", Mode: 0o755, Body: racer})
	cfg := ocispec.ImageConfig{Env: []string{testutil.DefaultPath}, Cmd: []string{"sh"}}
	if _, err := rt.Import(t.Context(), bytes.NewReader(testutil.TarBytes(t, files)), "busybox:test", WithImportConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	var b [8]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	h := raceHost{dir: t.TempDir(), name: "secret-" + id, only: "hostonly-" + id, secret: "hull-race-secret-" + id}
	if err := os.WriteFile(filepath.Join(h.dir, h.name), []byte(h.secret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, h.only), []byte(h.secret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return rt, h
}

// racerBin is the racer, built once for all the tests.
var racerBin = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "hull-racer-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// The module cache has the x/sys that hull requires: no download.
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		return nil, err
	}
	var version string
	for _, l := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "golang.org/x/sys" {
			version = f[1]
		}
	}
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		return nil, err
	}
	var sums []string
	for _, l := range strings.Split(string(sum), "\n") {
		if strings.HasPrefix(l, "golang.org/x/sys "+version+" ") || strings.HasPrefix(l, "golang.org/x/sys "+version+"/") {
			sums = append(sums, l)
		}
	}
	files := map[string]string{
		"go.mod":  "module racer\n\ngo 1.22\n\nrequire golang.org/x/sys " + version + "\n",
		"go.sum":  strings.Join(sums, "\n") + "\n",
		"main.go": racerSource,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return nil, err
		}
	}
	build := exec.Command("go", "build", "-o", "racer", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOPROXY=off", "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, out)
	}
	return os.ReadFile(filepath.Join(dir, "racer"))
})

func buildRacer(t *testing.T) []byte {
	t.Helper()
	bin, err := racerBin()
	if err != nil {
		t.Skipf("cannot build the racer (no Go toolchain or module cache?): %v", err)
	}
	return bin
}

// startRacer runs a container that makes, in dir (/w unless opts mount a volume there),
// a 256 KiB file a (writing it widens the window between listing dir/d and reading it),
// d (a directory holding a file of the host marker's name, with other content) and l (a
// symlink to the host directory), then runs then ("racer DIR/d DIR/l" for the race). It
// returns once the container is ready.
func startRacer(t *testing.T, rt *Runtime, h raceHost, dir, then string, opts ...RunOption) *Container {
	t.Helper()
	script := fmt.Sprintf("mkdir -p %[1]s/d && head -c 262144 /dev/zero > %[1]s/a && echo mine > %[1]s/d/%[2]s && ln -s %[3]s %[1]s/l && touch /ready && exec %[4]s",
		dir, h.name, h.dir, then)
	opts = append([]RunOption{WithCmd("sh", "-c", script)}, opts...)
	c, err := rt.Run(t.Context(), "busybox:test", opts...)
	if c != nil {
		t.Cleanup(func() { c.Remove(context.WithoutCancel(t.Context()), WithForce()) })
	}
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if rc, err := c.CopyFrom(t.Context(), "/ready"); err == nil {
			rc.Close()
			break
		}
		if i > 500 {
			t.Fatal("racer never got ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the racer's exec: let the loop start
	return c
}

// check fails the test if out shows the host directory's file.
func (h raceHost) check(t *testing.T, what string, try int, out []byte) {
	t.Helper()
	if bytes.Contains(out, []byte(h.secret)) || bytes.Contains(out, []byte(h.only)) {
		t.Fatalf("%s, try %d: the host directory leaked", what, try)
	}
}

// untouched fails the test if something was written into the host directory.
func (h raceHost) untouched(t *testing.T, what string, try int) {
	t.Helper()
	ents, err := os.ReadDir(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 {
		t.Fatalf("%s, try %d: the host directory was written: %v", what, try, ents)
	}
}

// raceTries runs op tries times against the racing container c; op reports whether it
// succeeded. The racer must still run at the end, or the tries proved nothing.
func raceTries(t *testing.T, c *Container, what string, tries int, op func(try int) bool) {
	t.Helper()
	ok := 0
	for i := range tries {
		if op(i) {
			ok++
		}
	}
	t.Logf("%s: %d of %d tries succeeded under the race, the others failed; no host content", what, ok, tries)
	if st := inspect(t, c).State; st.Status != StatusRunning {
		t.Fatalf("the racer stopped (%s, exit %d): the tries raced nothing", st.Status, st.ExitCode)
	}
}

// swapW is the racer exchanging /w/d and /w/l, for startRacer.
const swapW = "racer /w/d /w/l"

func TestRaceCopyFrom(t *testing.T) {
	t.Parallel()
	rt, h := raceTest(t)
	c := startRacer(t, rt, h, "/w", swapW)
	raceTries(t, c, "CopyFrom", 150, func(i int) bool {
		// The directory, its parent (listing d, then reading it) and a file below it.
		rc, err := c.CopyFrom(t.Context(), []string{"/w/d", "/w", "/w/d/" + h.name}[i%3])
		if err != nil {
			return false
		}
		out, err := io.ReadAll(rc)
		rc.Close()
		h.check(t, "CopyFrom", i, out)
		return err == nil
	})
}

func TestRaceExport(t *testing.T) {
	t.Parallel()
	rt, h := raceTest(t)
	c := startRacer(t, rt, h, "/w", swapW)
	raceTries(t, c, "Export", 40, func(i int) bool {
		var buf bytes.Buffer
		err := c.Export(t.Context(), &buf)
		h.check(t, "Export", i, buf.Bytes())
		return err == nil
	})
}

func TestRaceDiff(t *testing.T) {
	t.Parallel()
	rt, h := raceTest(t)
	c := startRacer(t, rt, h, "/w", swapW)
	raceTries(t, c, "Diff", 400, func(i int) bool {
		chs, err := c.Diff(t.Context())
		for _, ch := range chs {
			if strings.Contains(ch.Path, h.only) {
				t.Fatalf("Diff, try %d: lists the host's %s", i, ch.Path)
			}
		}
		return err == nil
	})
}

func TestRaceCommit(t *testing.T) {
	t.Parallel()
	rt, h := raceTest(t)
	c := startRacer(t, rt, h, "/w", swapW)
	raceTries(t, c, "Commit", 20, func(i int) bool {
		// Not paused: a paused container cannot race.
		img, err := c.Commit(t.Context(), "", WithCommitNoPause())
		if err != nil {
			return false
		}
		var buf bytes.Buffer
		if err := rt.Save(t.Context(), &buf, img.ID()); err != nil {
			t.Fatal(err)
		}
		h.check(t, "Commit", i, buf.Bytes())
		if _, err := rt.RemoveImage(t.Context(), img.ID()); err != nil {
			t.Fatal(err)
		}
		return true
	})
}

// copyToTar is what TestRaceCopyTo copies into /w: files in d, which exists. Without an
// entry for d itself, Apply checks d once, then creates what is below it by path: a
// symlink swapped in after the check must not take those writes out of the container.
func copyToTar(t *testing.T, try int) []byte {
	files := []testutil.File{{Name: "d/pwned", Mode: 0o644, Body: []byte("x")}}
	for j := range 8 * (try % 2) { // every other try, 1 entry: it succeeds more often
		files = append(files, testutil.File{Name: fmt.Sprintf("d/pwned%d", j), Mode: 0o644, Body: []byte("x")})
	}
	return testutil.TarBytes(t, files)
}

func TestRaceCopyTo(t *testing.T) {
	t.Parallel()
	rt, h := raceTest(t)
	// Without the race, the same copies succeed.
	calm := startRacer(t, rt, h, "/w", "sleep 600")
	for i := range 2 {
		if err := calm.CopyTo(t.Context(), "/w", bytes.NewReader(copyToTar(t, i))); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := calm.CopyFrom(t.Context(), "/w/d/pwned7")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()

	c := startRacer(t, rt, h, "/w", swapW)
	raceTries(t, c, "CopyTo", 150, func(i int) bool {
		err := c.CopyTo(t.Context(), "/w", bytes.NewReader(copyToTar(t, i)))
		if err != nil && i < 2 {
			t.Logf("CopyTo: %v", err)
		}
		h.untouched(t, "CopyTo", i)
		return err == nil
	})
	if _, err := os.Stat("/pwned"); err == nil {
		t.Fatal("CopyTo wrote to the host's root")
	}
}

func TestRaceVolumeExport(t *testing.T) {
	t.Parallel()
	rt, h := raceTest(t)
	vol, err := rt.CreateVolume(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	c := startRacer(t, rt, h, "/v", "racer /v/d /v/l", WithVolume(vol, "/v"))
	raceTries(t, c, "volume Export", 100, func(i int) bool {
		var buf bytes.Buffer
		err := vol.Export(t.Context(), &buf, WithLiveExport())
		h.check(t, "volume Export", i, buf.Bytes())
		return err == nil
	})
}

// deepName is a directory name of 100 bytes; deepLevels of them make a path of 6060
// bytes, longer than PATH_MAX.
var deepName = testutil.DeepName

const deepLevels = 60

// TestDeepPaths: paths longer than PATH_MAX, which a container can make by going down
// one directory at a time, go through Diff, Export, CopyFrom, Commit (a container of the
// image reads the file) and CopyTo (created and running containers). The tree is
// made in the upper directory of a created container (busybox's cd keeps a string path
// and stops at PATH_MAX).
func TestDeepPaths(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	c, err := rt.Create(t.Context(), "busybox:test", WithCmd("true"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Remove(context.WithoutCancel(t.Context()), WithForce()) })
	want := testutil.DeepTree(t, filepath.Join(rt.containerDir(c.ID()), "upper"), deepLevels)
	if len(want) < 6000 {
		t.Fatalf("path of %d bytes", len(want))
	}

	chs, err := c.Diff(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(chs, Change{Kind: ChangeAdded, Path: "/" + want}) {
		t.Errorf("Diff lacks the deep file (%d changes)", len(chs))
	}

	var buf bytes.Buffer
	if err := c.Export(t.Context(), &buf); err != nil {
		t.Fatal(err)
	}
	if got := tarFile(t, &buf, want); got != "bottom\n" {
		t.Errorf("Export: deep file %q", got)
	}

	rc, err := c.CopyFrom(t.Context(), "/deep")
	if err != nil {
		t.Fatal(err)
	}
	got := tarFile(t, rc, want)
	rc.Close()
	if got != "bottom\n" {
		t.Errorf("CopyFrom: deep file %q", got)
	}

	// Commit writes the layer and unpacks it as a snapshot (archive.Apply walks by
	// descriptors); a container of the image sees the deep file.
	if _, err := c.Commit(t.Context(), "deep:1"); err != nil {
		t.Fatalf("Commit: %.300v", err)
	}
	st, out, err := runRef(t, rt, "deep:1", WithCmd("sh", "-c", deepCat("/"+want)))
	if err != nil || st.ExitCode != 0 || out != "bottom\n" {
		t.Errorf("container of the committed image: exit %+v, %v, output %q", st, err, out)
	}

	// CopyTo of a tar with a name longer than PATH_MAX, into the created container
	// (its overlay mounted for the copy) and into a running one.
	copied := "copied/" + strings.Repeat(deepName+"/", deepLevels) + "g"
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	if err := tw.WriteHeader(&tar.Header{Name: copied, Mode: 0o644, Size: 7, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte("copied\n")); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.CopyTo(t.Context(), "/", bytes.NewReader(tb.Bytes())); err != nil {
		t.Fatalf("CopyTo a created container: %.300v", err)
	}
	rc, err = c.CopyFrom(t.Context(), "/copied")
	if err != nil {
		t.Fatal(err)
	}
	got = tarFile(t, rc, copied)
	rc.Close()
	if got != "copied\n" {
		t.Errorf("CopyTo a created container: deep file %q", got)
	}
	running, err := rt.Run(t.Context(), "busybox:test", WithCmd("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { running.Remove(context.WithoutCancel(t.Context()), WithForce()) })
	if err := running.CopyTo(t.Context(), "/tmp", bytes.NewReader(tb.Bytes())); err != nil {
		t.Fatalf("CopyTo a running container: %.300v", err)
	}
	var execOut syncBuffer
	res, err := running.Exec(t.Context(), []string{"sh", "-c", deepCat("/tmp/" + copied)}, WithExecStdout(&execOut), WithExecStderr(&execOut))
	if err != nil || res.ExitCode != 0 || execOut.String() != "copied\n" {
		t.Errorf("CopyTo a running container: exec exit %d, %v, output %q", res.ExitCode, err, execOut.String())
	}
}

// deepCat is a shell command that prints the file p, longer than PATH_MAX: it goes down
// by relative `cd -P` of less than PATH_MAX each (a logical cd would build the whole
// path and stop there).
func deepCat(p string) string {
	dir, file := path.Split(p)
	names := strings.Split(strings.Trim(dir, "/"), "/")
	cmd, step := "cd -P /", ""
	for _, n := range names {
		if len(step)+len(n)+1 > 3000 {
			cmd += " && cd -P " + step
			step = ""
		}
		step += n + "/"
	}
	return cmd + " && cd -P " + step + " && cat " + file
}

// tarFile returns the content of the entry name in the tar r ("" if absent).
func tarFile(t *testing.T, r io.Reader, name string) string {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}
