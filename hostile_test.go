//go:build linux

package hull

import (
	"archive/tar"
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hullbox/hull/internal/testutil"
)

// rawTar writes headers (and bodies for regular files) without any
// sanitising, the way an attacker would.
func rawTar(t *testing.T, entries ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg && h.Size > 0 && h.Size < 1<<20 {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Flush()
	// No Close: a hostile header may announce more data than follows.
	buf.Write(make([]byte, 1024))
	return buf.Bytes()
}

func TestPullRefusesHostileLayers(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	outside := t.TempDir() // what an escape would write into
	reg2 := func(name string, typ byte, link string) *tar.Header {
		return &tar.Header{Name: name, Typeflag: typ, Linkname: link, Mode: 0o644, Size: 0}
	}
	file := func(name string) *tar.Header {
		return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: 5}
	}
	cases := map[string][]byte{
		"dotdot":             rawTar(t, file("../escape")),
		"nested dotdot":      rawTar(t, reg2("a/", tar.TypeDir, ""), file("a/../../escape")),
		"absolute":           rawTar(t, file(filepath.Join(outside, "abs"))),
		"hardlink out":       rawTar(t, reg2("h", tar.TypeLink, "../../../../etc/passwd")),
		"hardlink absolute":  rawTar(t, reg2("h", tar.TypeLink, "/etc/passwd")),
		"symlink then write": rawTar(t, reg2("evil", tar.TypeSymlink, outside), file("evil/pwned")),
		"relative symlink":   rawTar(t, reg2("up", tar.TypeSymlink, "../../../../../../.."), file("up"+outside+"/pwned2")),
		"absurd size":        rawTar(t, &tar.Header{Name: "huge", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 50}),
	}
	rt := openTest(t)
	// A good image first, so "unchanged" means something.
	if _, err := rt.Pull(t.Context(), reg.Push(t, "test/good:1", testutil.BusyboxImage(t)).Ref); err != nil {
		t.Fatal(err)
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			img := testutil.Image{Layers: []testutil.Layer{{Raw: raw, Compression: testutil.Gzip}}}
			pushed := reg.Push(t, "test/hostile:"+strings.ReplaceAll(name, " ", "-"), img)
			before := rootListing(t, rt.Root())
			_, err := rt.Pull(t.Context(), pushed.Ref)
			t.Log(err)
			if !errors.Is(err, ErrInvalidContent) {
				t.Fatalf("pull: %v, want ErrInvalidContent", err)
			}
			if after := rootListing(t, rt.Root()); !slices.Equal(before, after) {
				t.Errorf("root changed:\nbefore %v\nafter  %v", before, after)
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("written outside: %v", entries)
			}
		})
	}
}

// corruptBlobs serves every blob GET with its last byte flipped.
func corruptBlobs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/sha256:") {
			next.ServeHTTP(w, r)
			return
		}
		rec := &bufferedWriter{header: http.Header{}}
		next.ServeHTTP(rec, r)
		body := rec.buf.Bytes()
		if len(body) > 0 {
			body[len(body)-1] ^= 0xff
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		w.Write(body)
	})
}

type bufferedWriter struct {
	header http.Header
	buf    bytes.Buffer
	code   int
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = 200
	}
	return b.buf.Write(p)
}
func (b *bufferedWriter) WriteHeader(code int) { b.code = code }

func TestPullRefusesCorruptBlobs(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t, testutil.WithMiddleware(corruptBlobs))
	pushed := reg.Push(t, "test/corrupt:1", testutil.BusyboxImage(t))
	rt := openTest(t)
	before := rootListing(t, rt.Root())
	_, err := rt.Pull(t.Context(), pushed.Ref)
	if !errors.Is(err, ErrInvalidContent) {
		t.Fatalf("pull of corrupt blobs: %v, want ErrInvalidContent", err)
	}
	if after := rootListing(t, rt.Root()); !slices.Equal(before, after) {
		t.Errorf("root changed:\nbefore %v\nafter  %v", before, after)
	}
}

func TestPullErrors(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	rt := openTest(t)
	if _, err := rt.Pull(t.Context(), reg.Host+"/no/such:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing repo: %v, want ErrNotFound", err)
	}
	if _, err := rt.Pull(t.Context(), "bad ref!"); !errors.Is(err, ErrInvalidReference) || !strings.Contains(err.Error(), "bad ref!") {
		t.Errorf("bad ref: %v", err)
	}
	if _, err := rt.Image(t.Context(), "nothing:here"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Image of absent: %v", err)
	}
}
