package hull

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExecStdioPipes is finding 4 of issue 13: Exec given host files as
// stdin and stdout hands the command pipes, so that nothing in the
// container reaches the files through /proc/<pid>/fd (docker exec
// > file does the same).
func TestExecStdioPipes(t *testing.T) {
	rt := containerTest(t)
	c, err := rt.Run(t.Context(), "busybox:test", Detached(), WithCmd("sleep", "600"))
	if c != nil {
		t.Cleanup(func() { c.Remove(context.Background(), WithForceRemove()) })
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.WriteFile(in, []byte("input\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(dir, "out")
	if err := os.WriteFile(outPath, []byte("host secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inF, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer inF.Close()
	outF, err := os.OpenFile(outPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer outF.Close()
	var errb bytes.Buffer
	res, err := c.Exec(t.Context(), []string{"sh", "-c", "for f in 0 1; do readlink /proc/self/fd/$f >&2; done; cat"},
		WithExecStdin(inF), WithExecStdout(outF), WithExecStderr(&errb))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exec: %v %+v: %s", err, res, errb.String())
	}
	for _, l := range strings.Fields(errb.String()) {
		if !strings.HasPrefix(l, "pipe:") {
			t.Errorf("the command's stdio is %q, not a pipe", l)
		}
	}
	got, _ := os.ReadFile(outPath)
	if string(got) != "host secret\ninput\n" {
		t.Errorf("out file holds %q, want the earlier content and the command's output appended", got)
	}
}
