package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const secret = "secret"

// sandbox returns base/layer, an empty layer directory, and base/outside, which holds
// one file, secret. checkSandbox asserts that Apply changed nothing outside the layer.
func sandbox(t testing.TB) (base, layer, outside string) {
	t.Helper()
	base = t.TempDir()
	layer, outside = filepath.Join(base, "layer"), filepath.Join(base, "outside")
	for _, d := range []string{layer, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, secret), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	return base, layer, outside
}

func checkSandbox(t testing.TB, base string) {
	t.Helper()
	for _, c := range []struct{ dir, want string }{{base, "layer,outside"}, {filepath.Join(base, "outside"), secret}} {
		ents, err := os.ReadDir(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if got := strings.Join(names, ","); got != c.want {
			t.Fatalf("%s holds %q, want %q", c.dir, got, c.want)
		}
	}
	p := filepath.Join(base, "outside", secret)
	st := lstat(t, p)
	if st.Mode != unix.S_IFREG|0o600 || st.Nlink != 1 || st.Uid != uint32(os.Geteuid()) {
		t.Fatalf("%s: mode %o, %d links, uid %d: changed from the layer", p, st.Mode, st.Nlink, st.Uid)
	}
	if got := readFile(t, p); got != secret {
		t.Fatalf("%s = %q: changed from the layer", p, got)
	}
	if n, _ := unix.Llistxattr(filepath.Join(base, "outside"), nil); n > 0 {
		t.Fatalf("%s got xattrs from the layer", filepath.Join(base, "outside"))
	}
}

func TestApplyRefusesHostile(t *testing.T) {
	requireRoot(t)
	const out = "$OUT" // replaced with the outside directory's absolute path
	tests := []struct {
		name    string
		max     int64 // Options.MaxSize and MaxLogicalSize
		entries []ent
		bad     string // the entry the error must name
	}{
		{name: "absolute name", entries: []ent{file(out+"/secret", "pwned", 0o644)}, bad: out + "/secret"},
		{name: "absolute root name", entries: []ent{file("/etc/x", "pwned", 0o644)}, bad: "/etc/x"},
		{name: "dot-dot", entries: []ent{file("../outside/secret", "pwned", 0o644)}, bad: "../outside/secret"},
		{name: "dot-dot after a directory", entries: []ent{file("a/../../outside/secret", "pwned", 0o644)}, bad: "a/../../outside/secret"},
		{name: "dot-dot directory", entries: []ent{dirEnt("a/../..", 0o777)}, bad: "a/../.."},
		{name: "absolute hardlink target", entries: []ent{hardlinkEnt("stolen", out+"/secret")}, bad: "stolen"},
		{name: "escaping hardlink target", entries: []ent{hardlinkEnt("stolen", "../outside/secret")}, bad: "stolen"},
		{name: "through an absolute symlink", entries: []ent{symlinkEnt("evil", out), file("evil/secret", "pwned", 0o644)}, bad: "evil/secret"},
		{name: "through a relative symlink", entries: []ent{symlinkEnt("evil", "../outside"), file("evil/x", "pwned", 0o644)}, bad: "evil/x"},
		{name: "through a nested symlink", entries: []ent{dirEnt("a", 0o755), symlinkEnt("a/evil", "../../outside"), file("a/evil/x", "pwned", 0o644)}, bad: "a/evil/x"},
		{name: "through a symlink to root", entries: []ent{symlinkEnt("etc", "/"), file("etc/shadow", "pwned", 0o644)}, bad: "etc/shadow"},
		{name: "through a directory replaced by a symlink", entries: []ent{dirEnt("d", 0o755), file("d/f", "ok", 0o644), symlinkEnt("d", out), file("d/secret", "pwned", 0o644)}, bad: "d/secret"},
		{name: "through a hardlinked symlink", entries: []ent{symlinkEnt("evil", out), hardlinkEnt("evil2", "evil"), file("evil2/x", "pwned", 0o644)}, bad: "evil2/x"},
		{name: "directory through a symlink", entries: []ent{symlinkEnt("evil", out), dirEnt("evil/sub", 0o777)}, bad: "evil/sub"},
		{name: "symlink through a symlink", entries: []ent{symlinkEnt("evil", out), symlinkEnt("evil/l", "/")}, bad: "evil/l"},
		{name: "whiteout through a symlink", entries: []ent{symlinkEnt("evil", out), marker("evil/.wh.secret")}, bad: "evil/.wh.secret"},
		{name: "opaque marker through a symlink", entries: []ent{symlinkEnt("evil", "../outside"), marker("evil/.wh..wh..opq")}, bad: "evil/.wh..wh..opq"},
		{name: "hardlink target through a symlink", entries: []ent{symlinkEnt("evil", out), hardlinkEnt("stolen", "evil/secret")}, bad: "stolen"},
		{name: "hardlink through a symlink", entries: []ent{file("f", "f", 0o644), symlinkEnt("evil", out), hardlinkEnt("evil/f", "f")}, bad: "evil/f"},
		{name: "whiteout of the parent", entries: []ent{marker("a/.wh...")}, bad: "a/.wh..."},
		{name: "file as a parent", entries: []ent{file("f", "f", 0o644), file("f/x", "x", 0o644)}, bad: "f/x"},
		{name: "hardlink to a directory", entries: []ent{dirEnt("d", 0o755), hardlinkEnt("h", "d")}, bad: "h"},
		{name: "negative owner", entries: []ent{owned(file("f", "f", 0o644), -1, 0)}, bad: "f"},
		{name: "root replaced by a file", entries: []ent{file(".", "x", 0o644)}, bad: "."},
		{name: "entry larger than MaxSize", max: 10, entries: []ent{file("big", "01234567890", 0o644)}, bad: "big"},
		{name: "declared size larger than MaxLogicalSize", max: 10, entries: []ent{{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "d", Size: 11}}}, bad: "d"},
		{name: "layer larger than MaxSize", max: 10, entries: []ent{file("a", "012345", 0o644), file("b", "012345", 0o644)}, bad: "b"},
		{name: "layer larger than MaxLogicalSize in zeros", max: 10, entries: []ent{file("a", "\x00\x00\x00\x00\x00\x00", 0o644), file("b", "\x00\x00\x00\x00\x00\x00", 0o644)}, bad: "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base, layer, outside := sandbox(t)
			entries := slices.Clone(tt.entries)
			for i := range entries {
				entries[i].hdr.Name = strings.ReplaceAll(entries[i].hdr.Name, out, outside)
				entries[i].hdr.Linkname = strings.ReplaceAll(entries[i].hdr.Linkname, out, outside)
			}
			bad := strings.ReplaceAll(tt.bad, out, outside)
			_, err := Apply(t.Context(), layer, bytes.NewReader(makeTar(t, entries...)), Options{MaxSize: tt.max, MaxLogicalSize: tt.max})
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("Apply: %v, want ErrUnsafe", err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
				t.Errorf("error %q does not name entry %q", err, bad)
			}
			checkSandbox(t, base)
		})
	}
}
