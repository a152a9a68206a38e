package fsutil

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if path := os.Getenv("FSUTIL_TEST_WRITE"); path != "" {
		writeAndWait(path)
	}
	os.Exit(m.Run())
}

// dirNames lists dir, hidden files included.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// variants are the ways of writing that callers use.
var variants = []struct {
	name string
	opts []Option
}{
	{"default", nil},
	{"Sync", []Option{Sync()}},
	{"SyncDir", []Option{SyncDir()}},
	{"Exchange", []Option{Exchange()}},
	{"Unnamed", []Option{Unnamed()}},
	{"UnnamedExchange", []Option{Unnamed(), Exchange()}},
	{"CreateTemp", []Option{CreateTemp(os.CreateTemp), Sync()}},
}

// TestWriteFileAtomic: in every variant, the file appears whole with its
// mode whatever the umask, replacing an earlier one or made anew; a
// failed write leaves the earlier file and nothing else.
func TestWriteFileAtomic(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.tar")
			if err := WriteFileAtomic(path, []byte("first"), 0o640, v.opts...); err != nil {
				t.Fatal(err)
			}
			boom := errors.New("boom")
			err := WriteAtomic(path, 0o600, func(w io.Writer) error {
				w.Write([]byte("partial"))
				return boom
			}, v.opts...)
			if !errors.Is(err, boom) {
				t.Errorf("failed write: %v", err)
			}
			if got, _ := os.ReadFile(path); string(got) != "first" || !slices.Equal(dirNames(t, dir), []string{"out.tar"}) {
				t.Errorf("after a failed write: %q, dir %q", got, dirNames(t, dir))
			}
			for _, mode := range []os.FileMode{0o600, 0o644, 0o666} {
				if err := WriteFileAtomic(path, []byte("new"), mode, v.opts...); err != nil {
					t.Fatal(err)
				}
				fi, err := os.Stat(path)
				if got, _ := os.ReadFile(path); err != nil || string(got) != "new" || fi.Mode().Perm() != mode {
					t.Errorf("written: %q, mode %v, want %v", got, fi.Mode(), mode)
				}
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"out.tar"}) {
				t.Errorf("dir holds %q", names)
			}
		})
	}
}

// TestWriteFileAtomicReader: a reader that opened the file before a write
// reads the old content whole, in every variant (the exchange too: it
// swaps names, not content).
func TestWriteFileAtomicReader(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := WriteFileAtomic(path, []byte("old"), 0o600, v.opts...); err != nil {
				t.Fatal(err)
			}
			r, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := WriteFileAtomic(path, []byte("new content"), 0o600, v.opts...); err != nil {
				t.Fatal(err)
			}
			if got, _ := io.ReadAll(r); string(got) != "old" {
				t.Errorf("the earlier reader read %q", got)
			}
		})
	}
}

// TestWriteFileAtomicCreateTemp: CreateTemp makes the temporary file, in
// path's directory with a pattern naming path.
func TestWriteFileAtomicCreateTemp(t *testing.T) {
	dir := t.TempDir()
	var made string
	create := func(d, pattern string) (*os.File, error) {
		f, err := os.CreateTemp(d, pattern)
		if err == nil {
			made = f.Name()
		}
		return f, err
	}
	if err := WriteFileAtomic(filepath.Join(dir, "index.json"), []byte("{}"), 0o600, CreateTemp(create)); err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(made) != dir || !slices.Equal(dirNames(t, dir), []string{"index.json"}) {
		t.Errorf("temp file %s; dir holds %q", made, dirNames(t, dir))
	}
	if m, _ := filepath.Match(".tmp-index.json-*", filepath.Base(made)); !m {
		t.Errorf("temp file %s is not .tmp-index.json-*", made)
	}
}

// TestWriteFileAtomicKilled: a process killed while it writes a file with
// Unnamed (hull save -o, export -o) leaves nothing in the directory, not
// even a temp file (issue 16: a killed save left 174 MB beside its file).
func TestWriteFileAtomicKilled(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Unnamed needs Linux's O_TMPFILE")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FSUTIL_TEST_WRITE="+filepath.Join(dir, "out.tar"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "written\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q, %v", line, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("a killed write left %q", names)
	}
}

// writeAndWait writes 1 MiB of path, says so and waits to be killed.
func writeAndWait(path string) {
	_ = WriteAtomic(path, 0o600, func(w io.Writer) error {
		if _, err := w.Write(make([]byte, 1<<20)); err != nil {
			return err
		}
		os.Stdout.WriteString("written\n")
		time.Sleep(time.Hour)
		return nil
	}, Unnamed())
	os.Exit(1)
}
