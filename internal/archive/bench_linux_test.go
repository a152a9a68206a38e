package archive

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

// goLayer returns a ~size byte tar of the Go distribution's sources and tool binaries:
// text and binaries mixed the way real image layers are.
func goLayer(b *testing.B, size int) []byte {
	b.Helper()
	var ents []ent
	total := 0
	for _, sub := range []struct {
		dir   string
		share int
	}{{"src", size * 6 / 10}, {"pkg/tool", size}} {
		root := filepath.Join(runtime.GOROOT(), sub.dir)
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || total >= sub.share || !d.Type().IsRegular() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(runtime.GOROOT(), p)
			ents = append(ents, file(rel, string(data), 0o644))
			total += len(data)
			return nil
		})
	}
	if total < size/2 {
		b.Skipf("needs the Go distribution's files: found only %d bytes under %s", total, runtime.GOROOT())
	}
	return makeTar(b, ents...)
}

// BenchmarkDecompressGzip compares the gzip decoders the way Apply reads: tar.Reader pulls
// through Read, with no WriteTo shortcut. Run with -cpu 2 for a two-core machine.
func BenchmarkDecompressGzip(b *testing.B) {
	tarball := goLayer(b, 20<<20)
	gz := gzipped(b, tarball)
	b.Logf("layer: %d bytes, %d gzipped", len(tarball), len(gz))
	for _, dec := range gzipDecoders {
		b.Run(dec.name, func(b *testing.B) {
			b.SetBytes(int64(len(tarball)))
			buf := make([]byte, 32<<10) // tar.Reader reads at most what it is asked for
			for b.Loop() {
				zr, err := dec.open(bytes.NewReader(gz))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{zr}, buf); err != nil {
					b.Fatal(err)
				}
				zr.Close()
			}
		})
	}
}

// BenchmarkApplyGzip measures the whole path a pull takes: gunzip and unpack.
func BenchmarkApplyGzip(b *testing.B) {
	requireRoot(b)
	tarball := goLayer(b, 20<<20)
	gz := gzipped(b, tarball)
	for _, dec := range gzipDecoders {
		b.Run(dec.name, func(b *testing.B) {
			b.SetBytes(int64(len(tarball)))
			benchApply(b, func() (io.ReadCloser, error) { return dec.open(bytes.NewReader(gz)) })
		})
	}
}

// BenchmarkApply unpacks an uncompressed 100 MB layer of 2000 files.
func BenchmarkApply(b *testing.B) {
	requireRoot(b)
	var ents []ent
	body := strings.Repeat("x", 50<<10)
	for i := range 2000 {
		ents = append(ents, file(filepath.Join("d", string(rune('a'+i%26)), strings.Repeat("f", 1+i%20)+string(rune('a'+i/26%26))+string(rune('a'+i/676))), body, 0o644))
	}
	tarball := makeTar(b, ents...)
	b.SetBytes(int64(len(tarball)))
	benchApply(b, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tarball)), nil })
}

func benchApply(b *testing.B, open func() (io.ReadCloser, error)) {
	b.Helper()
	base := b.TempDir()
	i := 0
	for b.Loop() {
		b.StopTimer()
		dir := filepath.Join(base, "layer")
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		i++
		b.StartTimer()
		r, err := open()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Apply(b.Context(), dir, r, Options{}); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

var gzipDecoders = []struct {
	name string
	open func(io.Reader) (io.ReadCloser, error)
}{
	{"pgzip", func(r io.Reader) (io.ReadCloser, error) { return pgzip.NewReader(r) }},
	{"klauspost-gzip", func(r io.Reader) (io.ReadCloser, error) { return kgzip.NewReader(r) }},
	{"stdlib-gzip", func(r io.Reader) (io.ReadCloser, error) { return gzip.NewReader(r) }},
}
