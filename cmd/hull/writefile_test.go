package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

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

// TestWriteFileAtomic: the file appears whole with its mode, replacing an
// earlier one; a failed write leaves the earlier file and nothing else.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.tar")
	if err := os.WriteFile(path, []byte("earlier"), 0o666); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := writeFileAtomic(path, 0o600, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("failed write: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "earlier" || !slices.Equal(dirNames(t, dir), []string{"out.tar"}) {
		t.Errorf("after a failed write: %q, dir %q", got, dirNames(t, dir))
	}
	for _, mode := range []os.FileMode{0o600, 0o644} {
		if err := writeFileAtomic(path, mode, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }); err != nil {
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
}

// TestWriteFileAtomicKilled: a hull killed while it writes a file (save
// -o, export -o) leaves nothing in the directory, not even a temp file
// (issue 16: a killed save left 174 MB beside its file).
func TestWriteFileAtomicKilled(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HULL_TEST_WRITEFILE="+filepath.Join(dir, "out.tar"))
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

// writeFileHelper writes 1 MiB of path, says so and waits to be killed.
func writeFileHelper(path string) {
	_ = writeFileAtomic(path, 0o600, func(w io.Writer) error {
		if _, err := w.Write(make([]byte, 1<<20)); err != nil {
			return err
		}
		os.Stdout.WriteString("written\n")
		time.Sleep(time.Hour)
		return nil
	})
	os.Exit(1)
}
