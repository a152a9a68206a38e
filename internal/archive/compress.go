package archive

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// Compress returns a writer that compresses what is written to it into w,
// with compression "gzip" or "zstd", at the library's default level (what
// Docker and containerd push with). Close flushes the stream's end into w;
// it does not close w.
//
// gzip is written by klauspost/pgzip, which deflates 1 MiB blocks on all
// cores. Its output, like that of the zstd encoder, depends on the input
// only, not on the number of cores (TestCompress), so a layer compressed
// again, on another machine, gives the same blob and digest. Measured on
// a loaded 2-core machine, 128 MB of binaries: gzip 5.8 s to 29%, zstd
// 1.1 s to 25%.
func Compress(w io.Writer, compression string) (io.WriteCloser, error) {
	switch compression {
	case "gzip":
		return pgzip.NewWriterLevel(w, pgzip.DefaultCompression)
	case "zstd":
		return zstd.NewWriter(w)
	}
	return nil, fmt.Errorf("unknown compression %q", compression)
}
