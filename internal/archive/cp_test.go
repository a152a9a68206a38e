package archive

import (
	"errors"
	"io/fs"
	"path"
	"testing"
)

func TestCopyDestination(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src           string
		srcIsDir      bool
		dst           string
		exists, isDir bool
		dir, name     string
		err           error
	}{
		{"f", false, "/d", true, true, "/d", "f", nil},
		{"d", true, "/d", true, true, "/d", "d", nil},
		{"d/.", true, "/d", true, true, "/d", "", nil},
		{"f", false, "/d/g", true, false, "/d", "g", nil},
		{"f", false, "/d/new", false, false, "/d", "new", nil},
		{"d", true, "/d/new", false, false, "/d", "new", nil},
		{"d", true, "/d/file", true, false, "", "", ErrCopyTarget},
		{"f", false, "/d/missing/", false, false, "", "", fs.ErrNotExist},
		{"f", false, "/d/..", false, false, "", "", ErrCopyTarget},
		{"f", false, "/", false, false, "", "", fs.ErrNotExist},
	} {
		got, err := CopyDestination(path.Base(tc.src), tc.srcIsDir, CopiesContents(tc.src, tc.srcIsDir), tc.dst, tc.exists, tc.isDir, path.Dir, path.Base)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s -> %s: %v, want %v", tc.src, tc.dst, err, tc.err)
			}
			continue
		}
		if err != nil || got.Dir != tc.dir || got.Name != tc.name {
			t.Errorf("%s -> %s: %+v %v, want %s %q", tc.src, tc.dst, got, err, tc.dir, tc.name)
		}
	}
	if err := CheckDirSource("f/", false); !errors.Is(err, ErrNotDir) {
		t.Errorf("CheckDirSource(f/): %v", err)
	}
	if CheckDirSource("d/", true) != nil || CheckDirSource("f", false) != nil {
		t.Error("CheckDirSource refused a good source")
	}
}
