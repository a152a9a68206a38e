package seccomp

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCompileCachedAndEncode(t *testing.T) {
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"read", "write", "exit_group"}, Action: specs.ActAllow}},
	}
	want, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := CompileCached(p)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatal("cached program differs from Compile's")
		}
	}
	other := *p
	other.DefaultAction = specs.ActKillProcess
	if got, _ := CompileCached(&other); slices.Equal(got, want) {
		t.Error("a different profile got the cached program")
	}
	dec, err := Decode(Encode(want))
	if err != nil || !slices.Equal(dec, want) {
		t.Errorf("Decode(Encode(prog)) = %v, %v", dec, err)
	}
	for _, bad := range [][]byte{nil, make([]byte, 7), make([]byte, 8*(maxInsns+1))} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%d bytes) accepted", len(bad))
		}
	}
}
