// Package archive unpacks OCI/Docker image layer tars into overlayfs layer directories.
//
// Every image layer is unpacked exactly once, into its own directory (a snapshot), without
// looking at the layers below it. That is what lets a pull unpack all of an image's layers
// concurrently, and lets every container share them: a container's root filesystem is an
// overlayfs mount with lowerdir=top:...:bottom over these directories.
//
// Because a layer cannot delete files from the layers below it by removing them, Apply
// converts the tar's whiteouts into overlayfs's on-disk format as it goes:
//
//   - an entry ".wh.NAME" becomes a character device 0:0 named NAME, owned by 0:0;
//   - an entry ".wh..wh..opq" in directory D sets the xattr trusted.overlay.opaque=y on D;
//   - any other ".wh..wh.*" entry is ignored.
//
// A hardlink whose target is not in the same layer cannot be made while unpacking that
// layer alone. Apply reports it in Result.PendingLinks, and the caller resolves it with
// ResolveLinks once the layers below are unpacked.
//
// Layers are hostile until proven otherwise: Apply refuses, with an error wrapping
// ErrUnsafe, any entry that would write outside the layer directory, go through a
// symlink, forge overlayfs metadata, or exceed the size limit.
package archive

import (
	"errors"
	"fmt"
)

// ErrUnsafe is wrapped by every error that refuses hostile or malformed layer content: a
// path that escapes the layer root or goes through a symlink or a file, a hardlink target
// outside the layer or to a directory, an impossible owner or device number, an entry or
// layer larger than Options.MaxSize or Options.MaxLogicalSize. Errors reading the stream
// itself (truncation, tar header corruption: tar.ErrHeader) do not wrap it.
var ErrUnsafe = errors.New("unsafe layer entry")

// DefaultMaxSize is the limit on a layer's unpacked content when Options.MaxSize is 0.
const DefaultMaxSize int64 = 64 << 30

// DefaultMaxLogicalSize is the limit on the apparent size of a layer's files when
// Options.MaxLogicalSize is 0: 1 TiB, more than a sparse file seen in a real image (a
// lastlog after useradd of a uid near 2^31 is about 600 GiB), and small enough that a
// tool reading the layer back (a diff, an export, a copy) is not handed petabytes.
const DefaultMaxLogicalSize int64 = 1 << 40

// Options bounds and tunes Apply. The zero value is ready to use.
//
// Apply writes a regular file's aligned 4 KiB blocks of zeros as holes, whether the tar
// stores the file sparse (GNU or PAX sparse formats) or not, as tar -S does. So a layer
// has two sizes: the data it makes the disk hold, which MaxSize bounds, and the apparent
// size of its files, holes included, which MaxLogicalSize bounds.
type Options struct {
	// MaxSize bounds the bytes of regular-file content a layer may write to disk, its
	// blocks of zeros left as holes not counted. 0 (or less) means DefaultMaxSize
	// (64 GiB).
	MaxSize int64
	// MaxLogicalSize bounds the total apparent size (st_size) of the layer's regular
	// files, and so each one's, and any entry's declared size. 0 (or less) means
	// DefaultMaxLogicalSize (1 TiB); it is never less than MaxSize.
	MaxLogicalSize int64
}

// Link is a hardlink whose target lives in a lower layer; ResolveLinks creates it.
// Both names are clean, slash-separated and relative to the layer root.
type Link struct {
	Name   string // the link to create in the layer
	Target string // the existing file it names, found in a lower layer
}

// Result describes a layer unpacked by Apply.
type Result struct {
	// Size is the apparent size of the layer's regular files, holes included: the
	// layer's unpacked size as Docker reports it. Hardlinks, directories and metadata are
	// not counted.
	Size int64
	// Written is the part of Size written to disk, the rest being holes.
	Written int64
	// PendingLinks are the hardlinks to files in lower layers, in tar order. The layer is
	// complete only after ResolveLinks has created them.
	PendingLinks []Link
}

// Dangling refuses, wrapping ErrUnsafe, a result with pending links: for
// a tar that stands alone (not a layer over others), a hardlink to a file
// the tar lacks.
func (r Result) Dangling() error {
	if len(r.PendingLinks) == 0 {
		return nil
	}
	l := r.PendingLinks[0]
	return fmt.Errorf("%w: hardlink %q to %q: target not in the archive", ErrUnsafe, l.Name, l.Target)
}
