package progress

import (
	"bytes"
	"io"
	"slices"
	"testing"
)

// TestReader: a report every Every bytes and one at the end, whether the
// end is EOF or the total read without it.
func TestReader(t *testing.T) {
	t.Parallel()
	const size = 2*Every + 1000
	var got []int64
	r := Reader(bytes.NewReader(make([]byte, size)), size+1, func(n int64) { got = append(got, n) })
	if n, err := io.Copy(io.Discard, r); err != nil || n != size {
		t.Fatal(n, err)
	}
	if want := []int64{Every, 2 * Every, size}; !slices.Equal(got, want) {
		t.Errorf("reports %v, want %v (EOF ends)", got, want)
	}
	got = nil
	r = Reader(bytes.NewReader(make([]byte, 10)), 10, func(n int64) { got = append(got, n) })
	buf := make([]byte, 10)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int64{10}) {
		t.Errorf("reports %v, want [10] once the total is read", got)
	}
	if _, err := r.Read(buf); err != io.EOF || len(got) != 1 {
		t.Errorf("EOF after the total: %v, reports %v", err, got)
	}
}
