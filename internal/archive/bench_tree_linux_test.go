package archive

import (
	"bytes"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// treeLayer returns a tar of the Go distribution's src tree: its directories, and its
// files cut to their first KiB, in walk order: tens of thousands of small entries, where
// Apply's per-entry work (lookups, creation, metadata) outweighs copying.
func treeLayer(b *testing.B) ([]byte, int) {
	b.Helper()
	root := filepath.Join(runtime.GOROOT(), "src")
	var ents []ent
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.IsDir():
			ents = append(ents, dirEnt(rel+"/", 0o755))
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			body, err := io.ReadAll(io.LimitReader(f, 1<<10))
			if err != nil {
				return err
			}
			ents = append(ents, file(rel, string(body), 0o644))
		}
		return nil
	})
	if len(ents) < 1000 {
		b.Skipf("needs the Go distribution's sources: found %d entries under %s", len(ents), root)
	}
	return makeTar(b, ents...), len(ents)
}

// BenchmarkApplyTree unpacks a layer of many small files and directories.
func BenchmarkApplyTree(b *testing.B) {
	requireRoot(b)
	tarball, n := treeLayer(b)
	b.Logf("%d entries, %d bytes", n, len(tarball))
	b.SetBytes(int64(len(tarball)))
	b.ReportAllocs()
	benchApply(b, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tarball)), nil })
}

// deepLayer is a chain of depth directories named "d", each holding a file "f" listed
// after the directory below it, as a tar of a deep tree written depth first has it.
func deepLayer(b *testing.B, depth int) []byte {
	b.Helper()
	ents := make([]ent, 0, 2*depth)
	name := ""
	for range depth {
		name += "d/"
		ents = append(ents, dirEnt(name, 0o755))
	}
	for i := depth; i > 0; i-- {
		ents = append(ents, file(name[:2*i]+"f", "x", 0o644))
	}
	return makeTar(b, ents...)
}

// BenchmarkApplyDeep unpacks deep chains of directories: time and memory must grow
// linearly with the depth. "N" lists every directory (the tar itself grows with the
// square of the depth), "file-N" is one file N levels down (the tar grows linearly).
func BenchmarkApplyDeep(b *testing.B) {
	requireRoot(b)
	cases := map[string]func() []byte{}
	for _, depth := range []int{500, 2000} {
		cases[strconv.Itoa(depth)] = func() []byte { return deepLayer(b, depth) }
		cases["file-"+strconv.Itoa(depth)] = func() []byte {
			return makeTar(b, file(strings.Repeat("d/", depth)+"f", "x", 0o644))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		b.Run(name, func(b *testing.B) {
			tarball := cases[name]()
			b.ReportAllocs()
			base := b.TempDir()
			for b.Loop() {
				b.StopTimer()
				dir := filepath.Join(base, "layer")
				// rm walks a tree of any depth with a bounded number of descriptors.
				if out, err := exec.Command("rm", "-rf", dir).CombinedOutput(); err != nil {
					b.Fatalf("rm: %v: %s", err, out)
				}
				if err := os.Mkdir(dir, 0o755); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := Apply(b.Context(), dir, bytes.NewReader(tarball), Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
