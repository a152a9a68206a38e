package archive

import (
	"fmt"
	"path"
	"strings"
)

const (
	whiteoutPrefix = ".wh."         // ".wh.NAME" deletes NAME from the layers below
	whiteoutMeta   = ".wh..wh."     // reserved prefix for whiteout metadata entries
	whiteoutOpaque = ".wh..wh..opq" // hides everything the layers below have in its directory
	opaqueXattr    = "trusted.overlay.opaque"
	maxNameLen     = 4096 // PATH_MAX: no longer name can be created anyway
)

// unsafe returns an error wrapping ErrUnsafe with the reason.
func unsafe(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsafe, fmt.Sprintf(format, args...))
}

// cleanName turns a tar entry name into a clean slash-separated path relative to the layer
// root ("." is the root itself). Absolute names and names escaping the root are refused
// rather than silently re-rooted: a layer that contains them was not made by a builder.
func cleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", unsafe("empty name")
	case len(name) > maxNameLen:
		return "", unsafe("name longer than %d bytes", maxNameLen)
	case strings.IndexByte(name, 0) >= 0:
		return "", unsafe("name contains a NUL byte")
	case strings.HasPrefix(name, "/"):
		return "", unsafe("absolute path")
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", unsafe("path escapes the layer root")
	}
	return clean, nil
}

// overlayXattr reports whether an xattr belongs to overlayfs itself. Those never come from
// a tar: they would forge whiteouts, opaque directories or redirects.
func overlayXattr(key string) bool {
	return strings.HasPrefix(key, "trusted.overlay.") || strings.HasPrefix(key, "user.overlay.")
}
