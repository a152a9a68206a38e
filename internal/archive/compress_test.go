package archive

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"testing"
)

// TestCompress: what Compress writes, Decompress reads back, and the
// same input gives the same bytes whatever the number of cores, so a
// layer compressed again (its recorded copy lost) keeps its digest.
func TestCompress(t *testing.T) {
	var in bytes.Buffer
	for i := 0; in.Len() < 3<<20; i++ {
		fmt.Fprintf(&in, "line %d of a layer, %x\n", i, i*i*7919)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, c := range []string{"gzip", "zstd"} {
		var outs [][]byte
		for _, procs := range []int{1, 4} {
			runtime.GOMAXPROCS(procs)
			var buf bytes.Buffer
			w, err := Compress(&buf, c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(w, bytes.NewReader(in.Bytes())); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			outs = append(outs, buf.Bytes())
		}
		if !bytes.Equal(outs[0], outs[1]) {
			t.Errorf("%s: 1 and 4 cores give different bytes (%d, %d)", c, len(outs[0]), len(outs[1]))
		}
		r, err := Decompress(bytes.NewReader(outs[0]))
		if err != nil {
			t.Fatal(err)
		}
		back, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(back, in.Bytes()) {
			t.Errorf("%s: read back %d bytes (%v), wrote %d", c, len(back), err, in.Len())
		}
		t.Logf("%s: %d -> %d bytes", c, in.Len(), len(outs[0]))
	}
	if _, err := Compress(io.Discard, "xz"); err == nil {
		t.Error("Compress(xz) did not fail")
	}
}
