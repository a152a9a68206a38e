package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// The rules of `docker cp` for where a copy lands, both ways: a file
// copied to a directory goes into it under its own name, to a file or a
// missing path it takes that name (a missing path ending in "/" is an
// error: the directory must exist); a directory copied to a directory goes
// into it under its own name, or only its contents when the source ends in
// "/.", to a missing path becomes that path, and to a file is an error.
// The parent of a missing destination must exist.

// ErrCopyTarget is wrapped by CopyDestination's refusals of a
// destination that cannot take the source.
var ErrCopyTarget = errors.New("bad copy destination")

// ErrNotDir is wrapped by the error of a copy whose source ends in "/"
// but is not a directory.
var ErrNotDir = errors.New("not a directory")

// CopyTarget is where a copy lands: the directory the tar is unpacked in,
// and the name its top entry gets there ("": the source directory's
// contents, no entry of its own).
type CopyTarget struct {
	Dir, Name string
}

// CopyDestination applies docker cp's rules to a source named srcName (a
// directory or not; contents: it ends in "/.", CopiesContents) and a
// destination dst (exists, isDir). dir and base split dst (path's or
// filepath's, as dst is the container's or the host's). A missing
// directory for a file is fs.ErrNotExist.
func CopyDestination(srcName string, srcIsDir, contents bool, dst string, exists, isDir bool, dir, base func(string) string) (CopyTarget, error) {
	switch {
	case exists && isDir:
		if contents {
			return CopyTarget{Dir: dst}, nil
		}
		return CopyTarget{Dir: dst, Name: srcName}, nil
	case exists && srcIsDir:
		return CopyTarget{}, fmt.Errorf("%w: cannot copy a directory to the file %s", ErrCopyTarget, dst)
	case !exists && !srcIsDir && (strings.HasSuffix(dst, "/") || strings.HasSuffix(dst, "/.")):
		return CopyTarget{}, fmt.Errorf("%w: the destination directory %s does not exist", fs.ErrNotExist, dst)
	}
	name := base(dst)
	if name == "/" || name == "." || name == ".." {
		return CopyTarget{}, fmt.Errorf("%w: destination %s", ErrCopyTarget, dst)
	}
	return CopyTarget{Dir: dir(dst), Name: name}, nil
}

// CopiesContents reports whether a copy of src copies a directory's
// contents only: it ends in "/." (docker cp's SRC_PATH/.).
func CopiesContents(src string, isDir bool) bool {
	return isDir && (strings.HasSuffix(src, "/.") || src == ".")
}

// CheckDirSource fails with ErrNotDir if src, a copy's source, ends in
// "/" (or "/.") and is not a directory.
func CheckDirSource(src string, isDir bool) error {
	if !isDir && (strings.HasSuffix(src, "/") || strings.HasSuffix(src, "/.")) {
		return fmt.Errorf("%s: %w", src, ErrNotDir)
	}
	return nil
}
