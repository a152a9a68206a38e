package archive

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const sparseLogical = 256 << 20 // apparent size of the sparse test file

// sparseData is what the sparse test file holds; the rest of it is holes. 64 KiB of
// non-zero data sit in the middle, so the data is more than a few blocks.
var sparseData = map[int64]string{
	0:                 "head",
	100<<20 + 1:       "middle",
	150 << 20:         strings.Repeat("0123456789abcdef", 4096),
	sparseLogical - 4: "tail",
}

// gnuSparseTar returns a layer tar made by GNU tar --sparse, in format (gnu, or posix with
// the given --sparse-version), of one file "f" holding sparseData in sparseLogical bytes.
func gnuSparseTar(t *testing.T, format, version string) []byte {
	t.Helper()
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar binary")
	}
	src := t.TempDir()
	p := filepath.Join(src, "f")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(sparseLogical); err != nil {
		t.Fatal(err)
	}
	for off, s := range sparseData {
		if _, err := f.WriteAt([]byte(s), off); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--sparse", "--format=" + format, "-C", src, "-cf", "-", "f"}
	if version != "" {
		args = append([]string{"--sparse-version=" + version}, args...)
	}
	out, err := exec.Command("tar", args...).Output()
	if err != nil {
		t.Fatalf("tar %v: %v", args, err)
	}
	if len(out) > 1<<20 {
		t.Fatalf("tar %v made %d bytes: not a sparse archive", args, len(out))
	}
	return out
}

// allocated returns the bytes of disk p's blocks take.
func allocated(t testing.TB, p string) int64 {
	t.Helper()
	st := lstat(t, p)
	return st.Blocks * 512
}

func readAt(t testing.TB, p string, off int64, n int) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatalf("read %s at %d: %v", p, off, err)
	}
	return string(b)
}

// A small layer holding a large sparse file must unpack to a small file with holes, not
// to its apparent size in blocks, in every sparse format Go's tar reader reads. MaxSize
// counts the data written, so it is far below the file's apparent size here.
func TestApplySparse(t *testing.T) {
	requireRoot(t)
	for _, fv := range [][2]string{{"gnu", ""}, {"posix", "0.0"}, {"posix", "0.1"}, {"posix", "1.0"}} {
		t.Run(fv[0]+fv[1], func(t *testing.T) {
			tarball := gnuSparseTar(t, fv[0], fv[1])
			dir := t.TempDir()
			res, err := Apply(t.Context(), dir, bytes.NewReader(tarball), Options{MaxSize: 1 << 20})
			if err != nil {
				t.Fatalf("Apply of a %d-byte tar: %v", len(tarball), err)
			}
			p := filepath.Join(dir, "f")
			st := lstat(t, p)
			if st.Size != sparseLogical || res.Size != sparseLogical {
				t.Errorf("size %d, Result.Size %d, want %d", st.Size, res.Size, sparseLogical)
			}
			for off, s := range sparseData {
				if got := readAt(t, p, off, len(s)); got != s {
					t.Errorf("at %d: %.20q, want %.20q", off, got, s)
				}
			}
			if got := readAt(t, p, 50<<20, 8); got != "\x00\x00\x00\x00\x00\x00\x00\x00" {
				t.Errorf("hole at 50 MiB reads %q", got)
			}
			if n := allocated(t, p); n >= 1<<20 {
				t.Errorf("%d-byte tar unpacked to %d allocated bytes, want < 1 MiB", len(tarball), n)
			}
			t.Logf("tar %d bytes: file of %d bytes, %d allocated", len(tarball), st.Size, allocated(t, p))
		})
	}
}

// The limits still hold for sparse files: the data written against MaxSize, the apparent
// size against MaxLogicalSize.
func TestApplySparseLimits(t *testing.T) {
	requireRoot(t)
	tarball := gnuSparseTar(t, "posix", "1.0")
	for _, tt := range []struct {
		name string
		opts Options
		want string
	}{
		{"data over MaxSize", Options{MaxSize: 32 << 10}, "content exceeds the limit of 32768 bytes"},
		{"apparent size over MaxLogicalSize", Options{MaxSize: 1 << 20, MaxLogicalSize: sparseLogical - 1},
			fmt.Sprintf("declared size %d exceeds the limit of %d bytes", sparseLogical, sparseLogical-1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Apply(t.Context(), dir, bytes.NewReader(tarball), tt.opts)
			if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `"f"`) {
				t.Fatalf("Apply: %v, want ErrUnsafe naming \"f\" and saying %q", err, tt.want)
			}
			if p := filepath.Join(dir, "f"); fileExists(p) && allocated(t, p) > 1<<20 {
				t.Errorf("refused layer left %d allocated bytes", allocated(t, p))
			}
		})
	}
}

func fileExists(p string) bool {
	var st unix.Stat_t
	return unix.Lstat(p, &st) == nil
}

// A plain (non-sparse) entry's aligned zero blocks become holes too, as with tar -S; the
// content reads back the same whatever the alignment of its zero runs.
func TestApplyZeroRunsBecomeHoles(t *testing.T) {
	requireRoot(t)
	var body bytes.Buffer
	for i, n := range []int{1, 4095, 4096, 8191, 1, 16 << 20, 5, 4096 * 3, 7, 3000} {
		if i%2 == 0 {
			body.WriteString(strings.Repeat(fmt.Sprint(i%10), n))
		} else {
			body.Write(make([]byte, n))
		}
	}
	zeros := string(make([]byte, 32<<20))
	dir := t.TempDir()
	res := applyTar(t, dir, file("f", body.String(), 0o644), file("zeros", zeros, 0o644), file("empty", "", 0o644))
	if want := int64(body.Len() + len(zeros)); res.Size != want {
		t.Errorf("Result.Size %d, want %d", res.Size, want)
	}
	p := filepath.Join(dir, "f")
	if got := readFile(t, p); got != body.String() {
		t.Error("content differs from the tar's")
	}
	if n := allocated(t, p); n >= 1<<20 {
		t.Errorf("file with a 16 MiB zero run: %d allocated bytes, want < 1 MiB", n)
	}
	z := filepath.Join(dir, "zeros")
	if st := lstat(t, z); st.Size != int64(len(zeros)) || st.Blocks != 0 {
		t.Errorf("all-zero file: size %d, %d blocks, want %d and 0", st.Size, st.Blocks, len(zeros))
	}
	if got := readFile(t, z); got != zeros {
		t.Error("all-zero file reads back different")
	}
}

// An entry named by a very long path is refused with an error that quotes a bounded
// part of it, still saying what is wrong.
func TestApplyLongNameError(t *testing.T) {
	requireRoot(t)
	name := strings.Repeat("a/", 2999) + strings.Repeat("../", 3000) + "z"
	_, err := Apply(t.Context(), t.TempDir(), bytes.NewReader(makeTar(t, file(name, "x", 0o644))), Options{})
	if !errors.Is(err, ErrUnsafe) {
		t.Fatalf("Apply: %v, want ErrUnsafe", err)
	}
	msg := err.Error()
	if len(msg) > 300 || !strings.Contains(msg, "escapes the layer root") || !strings.Contains(msg, "a/a/") ||
		!strings.Contains(msg, `/../z"`) || !strings.Contains(msg, fmt.Sprintf("%d bytes", len(name))) {
		t.Errorf("error of %d bytes: %s", len(msg), msg)
	}
}

// FuzzApplyZeroRuns checks that a file with zero runs of any length and alignment reads
// back as the tar had it, whatever holes Apply leaves. Input bytes below 16 stand for a
// run of (b+1)*1000 zeros; the others are themselves.
func FuzzApplyZeroRuns(f *testing.F) {
	requireRoot(f)
	f.Add([]byte("a\x03b\x0fc"))
	f.Add([]byte("\x0f\x0f\x0f\x0f\x0fz"))
	f.Add([]byte("xyz\x00\x01\x02"))
	f.Fuzz(func(t *testing.T, script []byte) {
		var body bytes.Buffer
		for _, b := range script {
			if b < 16 {
				body.Write(make([]byte, (int(b)+1)*1000))
			} else {
				body.WriteByte(b)
			}
		}
		dir := t.TempDir()
		res := applyTar(t, dir, file("f", body.String(), 0o644))
		if got := readFile(t, filepath.Join(dir, "f")); got != body.String() {
			t.Fatalf("content of %d bytes reads back different", body.Len())
		}
		if res.Size != int64(body.Len()) || res.Written > res.Size {
			t.Fatalf("Result %+v for %d bytes", res, body.Len())
		}
	})
}
