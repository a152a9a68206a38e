package archive

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
)

// FuzzApply feeds Apply layers described by a script, one entry a line: a type letter
// (f file, d dir, l symlink, h hardlink, c char device, p fifo), a name and, for links, a
// target; "$OUT" stands for a directory next to the layer. Whatever Apply returns,
// nothing outside the layer may change.
func FuzzApply(f *testing.F) {
	requireRoot(f)
	for _, seed := range []string{
		"d a\nf a/b\nh c a/b\nl d a\nf d/x",
		"l evil $OUT\nf evil/secret",
		"l evil ../outside\nf evil/.wh.secret\nf evil/.wh..wh..opq",
		"d a\nl a/b ../../outside\nd a/b/c",
		"h stolen $OUT/secret\nh stolen2 ../outside/secret",
		"l e /\nh e2 e\nf e2/x\nf ../x\nf $OUT/secret",
		"d x\nf x/y\nl x $OUT\nf x/y\nf .wh.x\nd x\nf x/.wh...",
		"c dev/null\np fifo\nf ./a/../b\nh b2 b\nh b3 nowhere",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, script string) {
		base, layer, outside := sandbox(t)
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for line := range strings.Lines(strings.ReplaceAll(script, "$OUT", outside)) {
			fields := strings.Fields(line)
			if len(fields) < 2 || len(fields[0]) != 1 {
				continue
			}
			hdr := &tar.Header{Name: fields[1], Mode: 0o755, Format: tar.FormatPAX}
			if len(fields) > 2 {
				hdr.Linkname = fields[2]
			}
			hdr.Typeflag = map[byte]byte{'f': tar.TypeReg, 'd': tar.TypeDir, 'l': tar.TypeSymlink,
				'h': tar.TypeLink, 'c': tar.TypeChar, 'p': tar.TypeFifo}[fields[0][0]]
			body := ""
			if hdr.Typeflag == tar.TypeReg {
				body = "pwned"
				hdr.Size = int64(len(body))
			}
			if hdr.Typeflag == 0 || tw.WriteHeader(hdr) != nil {
				continue
			}
			_, _ = tw.Write([]byte(body))
		}
		_ = tw.Close()
		_, _ = Apply(t.Context(), layer, bytes.NewReader(buf.Bytes()), Options{MaxSize: 1 << 20})
		checkSandbox(t, base)
	})
}
