package statedir

import (
	"reflect"
	"testing"
	"time"
)

type codecNode struct {
	Name     string
	Next     *codecNode // a type that holds itself
	Kids     []codecNode
	Tags     map[string][]string
	At       time.Time // a binary form of its own
	N        int64
	U        uint16
	F        float64
	On       bool
	unseen   int // unexported: not encoded
	Empty    string
	NilSlice []int
}

// The codec round-trips every kind it knows, through a type that holds
// itself; decoded strings share the buffer yet stay what was encoded
// after the encoder's input changes; a torn buffer is an error, never a
// panic.
func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	in := codecNode{
		Name: "root", N: -7, U: 9, F: 2.5, On: true, At: time.Unix(1700000000, 42).UTC(),
		Next: &codecNode{Name: "next", Tags: map[string][]string{"a": {"x", ""}, "": nil}},
		Kids: []codecNode{{Name: "k0"}, {Name: "k1", Kids: []codecNode{}}},
	}
	ti := infoOf(reflect.TypeFor[codecNode]())
	b, err := appendValue(nil, reflect.ValueOf(&in).Elem(), ti)
	if err != nil {
		t.Fatal(err)
	}
	var out codecNode
	if err := (&decoder{b: b}).value(reflect.ValueOf(&out).Elem(), ti); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
	in.Name, in.Next.Name = "changed", "changed"
	if out.Name != "root" || out.Next.Name != "next" {
		t.Fatalf("decoded strings changed with the input: %q %q", out.Name, out.Next.Name)
	}
	for cut := range len(b) {
		var torn codecNode
		if err := (&decoder{b: b[:cut]}).value(reflect.ValueOf(&torn).Elem(), ti); err == nil {
			t.Fatalf("cut at %d of %d: decoded without error", cut, len(b))
		}
	}
}
