package archive

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstded(t testing.TB, data []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(data, nil)
}

func TestDecompress(t *testing.T) {
	t.Parallel()
	// Plain tars whose first entry name looks like a compression magic stay plain.
	data := strings.Repeat("layer data ", 10000)
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr bool
	}{
		{name: "gzip", in: gzipped(t, []byte(data)), want: data},
		{name: "gzip, several members", in: append(gzipped(t, []byte("one ")), gzipped(t, []byte("two"))...), want: "one two"},
		{name: "zstd", in: zstded(t, []byte(data)), want: data},
		{name: "plain", in: []byte(data), want: data},
		{name: "plain, BZh name", in: []byte("BZh9 is a file name"), want: "BZh9 is a file name"},
		{name: "empty", in: nil, want: ""},
		{name: "xz", in: []byte("\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4\x46"), wantErr: true},
		{name: "bzip2", in: []byte("BZh91AY&SY\x00\x00"), wantErr: true},
		{name: "corrupt gzip", in: func() []byte { b := gzipped(t, []byte(data)); b[len(b)-5] ^= 0xff; return b }(), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc, err := Decompress(bytes.NewReader(tt.in))
			var got []byte
			if err == nil {
				got, err = io.ReadAll(rc)
				if cerr := rc.Close(); err == nil {
					err = cerr
				}
			}
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %d bytes, want %d", len(got), len(tt.want))
			}
		})
	}
}
