package archive

import (
	"bytes"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// holeBlock is the unit of hole detection: an aligned block of this many zero bytes is
// not written, and stays a hole. 4 KiB is the block size of ext4, xfs and btrfs on
// x86-64 and arm64, so a smaller hole would take a block anyway.
const holeBlock = 4096

var zeroBlock [holeBlock]byte

// copySparse writes size bytes of r to fd, a new empty file, leaving every aligned
// holeBlock of zeros a hole, then sets the file's size. Go's tar reader hands a sparse
// entry's holes over as zeros, so they become holes again here; so do long zero runs
// of plain entries, as with tar -S. Only the blocks written count against a.max.
func (a *applier) copySparse(fd int, r io.Reader, size int64) error {
	for off := int64(0); off < size; {
		if err := a.ctx.Err(); err != nil {
			return err
		}
		// len(a.buf) is a multiple of holeBlock, so the blocks are aligned in the file.
		chunk := a.buf[:min(int64(len(a.buf)), size-off)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read content: %w", err)
		}
		start := -1 // where the run of data blocks being gathered starts
		for i := 0; i < len(chunk); i += holeBlock {
			b := chunk[i:min(i+holeBlock, len(chunk))]
			zero := bytes.Equal(b, zeroBlock[:len(b)])
			switch {
			case !zero && start < 0:
				start = i
			case zero && start >= 0:
				if err := a.writeAt(fd, chunk[start:i], off+int64(start)); err != nil {
					return err
				}
				start = -1
			}
		}
		if start >= 0 {
			if err := a.writeAt(fd, chunk[start:], off+int64(start)); err != nil {
				return err
			}
		}
		off += int64(len(chunk))
	}
	if err := unix.Ftruncate(fd, size); err != nil {
		return fmt.Errorf("set file size: %w", err)
	}
	return nil
}

// writeAt writes b at off in fd, if the layer may still write that much.
func (a *applier) writeAt(fd int, b []byte, off int64) error {
	if int64(len(b)) > a.max-a.written {
		return unsafe("layer content exceeds the limit of %d bytes", a.max)
	}
	a.written += int64(len(b))
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("write content: %w", err)
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}
