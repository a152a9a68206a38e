package dockerfile

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestExcludedNeverOpened: what .dockerignore excludes is neither opened
// nor listed (a directory excluded whole, without exceptions below it),
// whether the context is hashed, matched or copied.
func TestExcludedNeverOpened(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		".dockerignore":           "node_modules\n**/*.log\n",
		"app.js":                  "x",
		"debug.log":               "x",
		"lib/trace.log":           "x",
		"lib/util.js":             "x",
		"node_modules/a/index.js": "x",
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := OpenContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var opened []string
	c.opened = func(rel string) { opened = append(opened, rel) }
	if _, err := c.Hash("."); err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(io.Discard)
	if err := c.WriteTar(tw, ".", "ctx", Owner{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Match("*.js"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Match("node_modules/a/index.js"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an excluded source matched: %v", err)
	}
	for _, p := range opened {
		if strings.HasPrefix(p, "node_modules") || strings.HasSuffix(p, ".log") {
			t.Errorf("opened excluded %s", p)
		}
	}
	if !slices.Contains(opened, "lib/util.js") {
		t.Errorf("opened %q: lib/util.js missing", opened)
	}
}

// TestParseErrorsNameTheLine: BuildKit's errors become *Error with the
// file and the line at fault.
func TestParseErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct {
		src  string
		line int
	}{
		{"FROM a\nNOPE x\n", 2},
		{"FROM a\nRUN --bogus=1 true\n", 2},
		{"ENV A=1\n", 1},
		{"FROM a\nCOPY\n", 2},
		{"FROM a\nHEALTHCHECK --interval=xyz CMD true\n", 2},
		{"# escape=`\nFROM a\nRUN echo `\n  hi\nEXPOSE\n", 5},
		{"", 0},
	} {
		_, err := Parse("Dockerfile", []byte(tc.src))
		var e *Error
		if !errors.As(err, &e) || e.Line != tc.line {
			t.Errorf("%q: %v, want an error at line %d", tc.src, err, tc.line)
		}
	}
	f, err := Parse("Dockerfile", []byte("# syntax=docker/dockerfile:1\nFROM a AS b\nRUN x\n"))
	if err != nil || len(f.Stages) != 1 || len(f.Notes) != 1 {
		t.Fatalf("%v %+v", err, f)
	}
}
