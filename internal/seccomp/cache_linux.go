package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// compiled caches Compile's programs by profile: containers of one
// program nearly always share a profile (Docker's default for a
// capability set), and compiling it costs a millisecond.
var compiled struct {
	sync.Mutex
	progs map[string][]unix.SockFilter
}

// maxCached bounds the cache; it is emptied when full.
const maxCached = 16

// CompileCached is Compile, remembering the program for the same profile.
// The returned program is shared: callers must not modify it.
func CompileCached(p *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	key, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	compiled.Lock()
	prog, ok := compiled.progs[string(key)]
	compiled.Unlock()
	if ok {
		return prog, nil
	}
	prog, err = Compile(p)
	if err != nil {
		return nil, err
	}
	compiled.Lock()
	if compiled.progs == nil || len(compiled.progs) >= maxCached {
		compiled.progs = map[string][]unix.SockFilter{}
	}
	compiled.progs[string(key)] = prog
	compiled.Unlock()
	return prog, nil
}

// Encode turns a program into bytes (8 per instruction, little endian),
// to send it to the process that loads it.
func Encode(prog []unix.SockFilter) []byte {
	out := make([]byte, 0, 8*len(prog))
	for _, in := range prog {
		out = binary.LittleEndian.AppendUint16(out, in.Code)
		out = append(out, in.Jt, in.Jf)
		out = binary.LittleEndian.AppendUint32(out, in.K)
	}
	return out
}

// Decode is Encode's inverse.
func Decode(b []byte) ([]unix.SockFilter, error) {
	if len(b)%8 != 0 || len(b) == 0 || len(b)/8 > maxInsns {
		return nil, fmt.Errorf("seccomp: program of %d bytes", len(b))
	}
	prog := make([]unix.SockFilter, len(b)/8)
	for i := range prog {
		in := b[8*i:]
		prog[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(in), Jt: in[2], Jf: in[3], K: binary.LittleEndian.Uint32(in[4:])}
	}
	return prog, nil
}
