package archive

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

var (
	gzipMagic  = []byte{0x1f, 0x8b, 0x08} // with the only compression method, deflate
	zstdMagic  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	xzMagic    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	bzip2Magic = []byte("1AY&SY") // after "BZh" and the block size digit
)

// maxZstdWindow is the largest zstd window accepted: what the zstd tool itself decodes
// without --memory (--long=27). A larger one only makes a hostile layer cost more memory.
const maxZstdWindow = 1 << 27

// Decompress returns the uncompressed tar stream of a layer read from r, recognising
// gzip, zstd or an uncompressed tar by its first bytes. The caller must Close the result
// to release the decoder's goroutines and buffers; Close does not close r.
//
// gzip is decoded by klauspost/pgzip: it inflates with the same code as
// klauspost/compress/gzip, but ahead of the reader on another goroutine (up to 4 MiB), so
// inflating overlaps with writing files. On 2 cores a 24 MB layer unpacks about 25% faster
// than with klauspost/compress/gzip and 40% faster than with compress/gzip
// (BenchmarkApplyGzip, tmpfs); inflating alone is as fast with either.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(10)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read layer: %w", err)
	}
	switch {
	case bytes.HasPrefix(magic, gzipMagic):
		zr, err := pgzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip layer: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(magic, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("zstd layer: %w", err)
		}
		return zr.IOReadCloser(), nil
	case bytes.HasPrefix(magic, xzMagic), isBzip2(magic):
		return nil, errors.New("layer compression (xz or bzip2) is not supported")
	}
	return io.NopCloser(br), nil
}

func isBzip2(magic []byte) bool {
	return len(magic) == 10 && string(magic[:3]) == "BZh" && magic[3] >= '1' && magic[3] <= '9' &&
		bytes.Equal(magic[4:], bzip2Magic)
}
