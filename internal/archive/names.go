package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	whiteoutPrefix = ".wh."         // ".wh.NAME" deletes NAME from the layers below
	whiteoutMeta   = ".wh..wh."     // reserved prefix for whiteout metadata entries
	whiteoutOpaque = ".wh..wh..opq" // hides everything the layers below have in its directory
	opaqueXattr    = "trusted.overlay.opaque"
	// maxNameLen bounds an entry's name. Apply walks by descriptors, so PATH_MAX (4096)
	// is no limit: a container can make a deeper tree, and commit it. Go's tar reader
	// (Docker's too) refuses PAX headers over 1 MiB, so this only says it outright.
	maxNameLen = 1 << 20

	// An error quotes at most about this many bytes of a name from a layer: its
	// beginning and its end, so a hostile name cannot make a megabyte of log line.
	quoteHead, quoteTail = 100, 60
)

// unsafe returns an error wrapping ErrUnsafe with the reason.
func unsafe(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsafe, fmt.Sprintf(format, args...))
}

// quote quotes s, a name or other string from a layer, for an error message: the whole
// of it, as %q would, when short; otherwise its first and last bytes around "…" and its
// length. Every untrusted name in this package's errors goes through it.
func quote(s string) string {
	q := strconv.Quote(s)
	if len(q) <= quoteHead+quoteTail+2 {
		return q
	}
	head, tail := quotedPrefix(s, quoteHead), quotedSuffix(s, quoteTail)
	return fmt.Sprintf("%s…%s (%d bytes)", head[:len(head)-1], tail[1:], len(s))
}

// quotedPrefix returns the quoted form of the longest prefix of s that quotes to at most
// n bytes between the quotes. s is cut between runes, never inside one or its escape.
func quotedPrefix(s string, n int) string {
	end, used := 0, 0
	for end < len(s) {
		_, size := utf8.DecodeRuneInString(s[end:])
		w := len(strconv.Quote(s[end:end+size])) - 2
		if used+w > n {
			break
		}
		end, used = end+size, used+w
	}
	return strconv.Quote(s[:end])
}

// quotedSuffix is quotedPrefix for the end of s.
func quotedSuffix(s string, n int) string {
	start, used := len(s), 0
	for start > 0 {
		_, size := utf8.DecodeLastRuneInString(s[:start])
		w := len(strconv.Quote(s[start-size:start])) - 2
		if used+w > n {
			break
		}
		start, used = start-size, used+w
	}
	return strconv.Quote(s[start:])
}

// shortPathErr returns err with the path of a *fs.PathError in it quoted by quote: that
// path is a host path ending in a name from the layer.
func shortPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && len(pe.Path) > quoteHead+quoteTail {
		return fmt.Errorf("%s %s: %w", pe.Op, quote(pe.Path), pe.Err)
	}
	return err
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
