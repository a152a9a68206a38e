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
// cores; its output depends on the input and the block size only, not on
// the number of cores, so the same layer always compresses to the same
// blob.
func Compress(w io.Writer, compression string) (io.WriteCloser, error) {
	switch compression {
	case "gzip":
		return pgzip.NewWriterLevel(w, pgzip.DefaultCompression)
	case "zstd":
		return zstd.NewWriter(w)
	}
	return nil, fmt.Errorf("unknown compression %q", compression)
}
