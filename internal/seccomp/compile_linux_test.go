package seccomp

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/hullbox/hull/internal/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// run executes prog in x/net/bpf's VM over a synthetic seccomp_data. The VM
// loads words big-endian (network order) where the kernel loads them in
// native order, so each 32-bit word is stored big-endian at the offset
// where a little-endian kernel would find it.
func run(t *testing.T, prog []unix.SockFilter, arch, nr uint32, args ...uint64) uint32 {
	t.Helper()
	return vmFor(t, prog)(arch, nr, args...)
}

// vmFor loads prog in the VM once and returns a function that runs it.
func vmFor(t *testing.T, prog []unix.SockFilter) func(arch, nr uint32, args ...uint64) uint32 {
	t.Helper()
	raw := make([]bpf.RawInstruction, len(prog))
	for i, f := range prog {
		raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("program does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	return func(arch, nr uint32, args ...uint64) uint32 {
		data := make([]byte, 64)
		binary.BigEndian.PutUint32(data[offNr:], nr)
		binary.BigEndian.PutUint32(data[offArch:], arch)
		for i, a := range args {
			binary.BigEndian.PutUint32(data[offArgs+8*i:], uint32(a))
			binary.BigEndian.PutUint32(data[offArgs+8*i+4:], uint32(a>>32))
		}
		// The VM returns the filter's value as an int (for a packet
		// filter, a length); seccomp's values fit in it.
		out, err := vm.Run(data)
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		return uint32(out)
	}
}

var (
	tableAMD64 = abis[specs.ArchX86_64]
	tableX32   = abis[specs.ArchX32]
	table386   = abis[specs.ArchX86]
	tableARM64 = abis[specs.ArchAARCH64]
)

func nr(t *testing.T, a abi, name string) uint32 {
	t.Helper()
	n, ok := a.lookup(name)
	if !ok {
		t.Fatalf("no syscall %s", name)
	}
	return n
}

func TestDefaultProfile(t *testing.T) {
	t.Parallel()
	for _, goarch := range []string{"amd64", "arm64"} {
		t.Run(goarch, func(t *testing.T) {
			p := defaultProfile()
			if goarch == "arm64" {
				p.Architectures = []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
			}
			prog, err := CompileFor(p, goarch)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d instructions", len(prog))
			eperm := uint32(retErrno | uint32(unix.EPERM))
			audit, tb := uint32(auditArchX86_64), tableAMD64
			if goarch == "arm64" {
				audit, tb = auditArchAARCH64, tableARM64
			}
			cases := []struct {
				name string
				args []uint64
				want uint32
			}{
				{"read", nil, retAllow},
				{"execve", nil, retAllow},
				{"openat2", nil, retAllow},
				{"faccessat2", nil, retAllow},
				{"epoll_pwait2", nil, retAllow},
				{"close_range", nil, retAllow},
				{"pidfd_open", nil, retAllow},
				{"mount", nil, eperm},
				{"unshare", nil, eperm},
				{"reboot", nil, eperm},
				{"swapon", nil, eperm},
				{"keyctl", nil, eperm},
				{"add_key", nil, eperm},
				{"kexec_load", nil, eperm},
				{"clone3", nil, retErrno | uint32(unix.ENOSYS)},
				{"clone", []uint64{uint64(unix.SIGCHLD)}, retAllow},
				{"clone", []uint64{unix.CLONE_NEWUSER | 17}, eperm},
				{"clone", []uint64{unix.CLONE_NEWNS}, eperm},
				{"clone", []uint64{1<<32 | unix.CLONE_VM}, retAllow},
				{"personality", []uint64{0}, retAllow},
				{"personality", []uint64{0xffffffff}, retAllow},
				{"personality", []uint64{0x0040000}, eperm}, // ADDR_NO_RANDOMIZE
				{"personality", []uint64{1 << 32}, eperm},
				{"socket", []uint64{unix.AF_INET}, retAllow},
				{"socket", []uint64{unix.AF_VSOCK}, eperm},
				{"socket", []uint64{1<<32 | unix.AF_VSOCK}, retAllow},
			}
			for _, c := range cases {
				if got := run(t, prog, audit, nr(t, tb, c.name), c.args...); got != c.want {
					t.Errorf("%s(%#x) = %#x, want %#x", c.name, c.args, got, c.want)
				}
			}
			if got := run(t, prog, audit, 9999); got != eperm {
				t.Errorf("unknown syscall = %#x, want EPERM", got)
			}
			if got := run(t, prog, 0x12345678, 0); got != badArch {
				t.Errorf("foreign arch = %#x, want kill", got)
			}
			if goarch == "amd64" {
				// i386: its own numbers, 32-bit arguments.
				if got := run(t, prog, auditArchI386, nr(t, table386, "read")); got != retAllow {
					t.Errorf("i386 read = %#x", got)
				}
				if got := run(t, prog, auditArchI386, nr(t, table386, "mount")); got != eperm {
					t.Errorf("i386 mount = %#x", got)
				}
				if got := run(t, prog, auditArchI386, nr(t, table386, "personality"), 0xffffffff); got != retAllow {
					t.Errorf("i386 personality(0xffffffff) = %#x", got)
				}
				if got := run(t, prog, auditArchX86_64, nr(t, tableX32, "read")); got != retAllow {
					t.Errorf("x32 read = %#x", got)
				}
				if got := run(t, prog, auditArchX86_64, nr(t, tableX32, "keyctl")); got != eperm {
					t.Errorf("x32 keyctl = %#x", got)
				}
			}
		})
	}
}

func TestOperators(t *testing.T) {
	t.Parallel()
	const big = 0x1_0000_0005 // high word 1, low word 5
	errno := uint(unix.EACCES)
	for _, x86 := range []bool{false, true} {
		var tests = []struct {
			op      specs.LinuxSeccompOperator
			v, v2   uint64
			in      uint64
			matches bool
		}{
			{specs.OpEqualTo, big, 0, big, true},
			{specs.OpEqualTo, big, 0, 5, x86},
			{specs.OpNotEqual, big, 0, 5, !x86},
			{specs.OpNotEqual, big, 0, big, false},
			{specs.OpGreaterThan, big, 0, big + 1, true},
			{specs.OpGreaterThan, big, 0, big, false},
			{specs.OpGreaterThan, big, 0, 0x2_0000_0000, !x86},
			{specs.OpGreaterThan, big, 0, 6, x86},
			{specs.OpGreaterEqual, big, 0, big, true},
			{specs.OpGreaterEqual, big, 0, big - 1, false},
			{specs.OpLessThan, big, 0, big - 1, true},
			{specs.OpLessThan, big, 0, big, false},
			{specs.OpLessThan, big, 0, 0x2_0000_0000, x86},
			{specs.OpLessEqual, big, 0, big, true},
			{specs.OpLessEqual, big, 0, big + 1, false},
			{specs.OpLessEqual, big, 0, 7, !x86},
			{specs.OpMaskedEqual, 0xff00000f0, 0xf00000000, 0xf00000001, true},
			{specs.OpMaskedEqual, 0xff00000f0, 0xf00000000, 0x700000001, x86},
			{specs.OpMaskedEqual, 0xf0, 0x10, 0x1f, true},
			{specs.OpMaskedEqual, 0xf0, 0x10, 0x2f, false},
		}
		for _, tt := range tests {
			p := &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Architectures: []specs.Arch{specs.ArchX86},
				Syscalls: []specs.LinuxSyscall{{
					Names: []string{"write"}, Action: specs.ActErrno, ErrnoRet: &errno,
					Args: []specs.LinuxSeccompArg{{Index: 2, Op: tt.op, Value: tt.v, ValueTwo: tt.v2}},
				}},
			}
			prog, err := CompileFor(p, "amd64")
			if err != nil {
				t.Fatal(err)
			}
			audit, n := uint32(auditArchX86_64), nr(t, tableAMD64, "write")
			if x86 {
				audit, n = auditArchI386, nr(t, table386, "write")
			}
			got := run(t, prog, audit, n, 0, 0, tt.in)
			want := uint32(retAllow)
			if tt.matches {
				want = retErrno | uint32(unix.EACCES)
			}
			if got != want {
				t.Errorf("x86=%v %s(%#x, %#x) on %#x: got %#x, want %#x", x86, tt.op, tt.v, tt.v2, tt.in, got, want)
			}
		}
	}
}

func TestRules(t *testing.T) {
	t.Parallel()
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActKillProcess,
		Syscalls: []specs.LinuxSyscall{
			// ANDed: arg0 == 1 && arg1 == 2.
			{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Op: specs.OpEqualTo, Value: 1}, {Index: 1, Op: specs.OpEqualTo, Value: 2}}},
			// Same index: ORed.
			{Names: []string{"write"}, Action: specs.ActLog, Args: []specs.LinuxSeccompArg{
				{Index: 0, Op: specs.OpEqualTo, Value: 1}, {Index: 0, Op: specs.OpEqualTo, Value: 2}}},
			{Names: []string{"close"}, Action: specs.ActTrap},
			{Names: []string{"close"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo, Value: 9}}},
			{Names: []string{"getpid", "no_such_syscall"}, Action: specs.ActTrace},
			{Names: []string{"gettid"}, Action: specs.ActKill},
		},
	}
	prog, err := CompileFor(p, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	tb := tableAMD64
	for _, c := range []struct {
		name string
		args []uint64
		want uint32
	}{
		{"read", []uint64{1, 2}, retAllow},
		{"read", []uint64{1, 3}, retKillProcess},
		{"read", []uint64{0, 2}, retKillProcess},
		{"write", []uint64{1}, retLog},
		{"write", []uint64{2}, retLog},
		{"write", []uint64{3}, retKillProcess},
		{"close", []uint64{9}, retErrno | uint32(unix.EPERM)},
		{"close", []uint64{8}, retTrap},
		{"getpid", nil, retTrace | uint32(unix.EPERM)},
		{"gettid", nil, retKillThread},
		{"open", nil, retKillProcess},
	} {
		if got := run(t, prog, auditArchX86_64, nr(t, tb, c.name), c.args...); got != c.want {
			t.Errorf("%s%v = %#x, want %#x", c.name, c.args, got, c.want)
		}
	}
	// No x32 listed: an x32 syscall is a foreign ABI.
	if got := run(t, prog, auditArchX86_64, nr(t, tableX32, "read")); got != badArch {
		t.Errorf("x32 read = %#x, want kill", got)
	}
}

// TestManyRules checks that a filter longer than a conditional jump can
// span still resolves: thousands of conditional rules.
func TestManyRules(t *testing.T) {
	t.Parallel()
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	for i := range 300 {
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{
			Names: []string{"ioctl"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpEqualTo, Value: uint64(i)}},
		})
	}
	prog, err := CompileFor(p, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	n := nr(t, tableAMD64, "ioctl")
	for _, c := range []struct {
		arg  uint64
		want uint32
	}{{0, retErrno | 1}, {299, retErrno | 1}, {300, retAllow}} {
		if got := run(t, prog, auditArchX86_64, n, 0, c.arg); got != c.want {
			t.Errorf("ioctl(0, %d) = %#x, want %#x", c.arg, got, c.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	for _, p := range []*specs.LinuxSeccomp{
		{DefaultAction: "SCMP_ACT_NOPE"},
		{DefaultAction: specs.ActNotify},
		{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}},
		{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_WAT"}}}}},
	} {
		if _, err := CompileFor(p, "amd64"); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%+v: err = %v, want ErrUnsupported", p, err)
		}
	}
	if _, err := CompileFor(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, "mips"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("mips: err = %v", err)
	}
}

func BenchmarkCompileDefault(b *testing.B) {
	p := defaultProfile()
	for b.Loop() {
		if _, err := Compile(p); err != nil {
			b.Fatal(err)
		}
	}
}

// reference is what a profile means for one syscall, evaluated directly.
func reference(p *specs.LinuxSeccomp, a abi, n uint32, args []uint64) uint32 {
	match := func(arg specs.LinuxSeccompArg) bool {
		v, x, y := args[arg.Index], arg.Value, arg.ValueTwo
		if a.bits32 {
			v, x, y = uint64(uint32(v)), uint64(uint32(x)), uint64(uint32(y))
		}
		switch arg.Op {
		case specs.OpEqualTo:
			return v == x
		case specs.OpNotEqual:
			return v != x
		case specs.OpLessThan:
			return v < x
		case specs.OpLessEqual:
			return v <= x
		case specs.OpGreaterThan:
			return v > x
		case specs.OpGreaterEqual:
			return v >= x
		case specs.OpMaskedEqual:
			return v&x == y
		}
		panic(arg.Op)
	}
	var uncond *uint32
	for _, sc := range p.Syscalls {
		has := false
		for _, name := range sc.Names {
			if m, ok := a.lookup(name); ok && m == n {
				has = true
			}
		}
		if !has {
			continue
		}
		ret, _ := action(sc.Action, sc.ErrnoRet)
		if len(sc.Args) == 0 {
			if uncond == nil {
				uncond = &ret
			}
			continue
		}
		all := true
		for _, arg := range sc.Args {
			all = all && match(arg)
		}
		if all {
			return ret
		}
	}
	if uncond != nil {
		return *uncond
	}
	ret, _ := action(p.DefaultAction, p.DefaultErrnoRet)
	return ret
}

// TestExhaustive compares the compiled default profile with the reference
// for every syscall number of every ABI, with a few argument vectors.
func TestExhaustive(t *testing.T) {
	t.Parallel()
	argSets := [][]uint64{
		{0, 0, 0, 0, 0, 0},
		{unix.CLONE_NEWUSER, 1, 2, 3, 4, 5},
		{unix.AF_VSOCK, 0, 0, 0, 0, 0},
		{0xffffffff, 0, 0, 0, 0, 0},
		{1<<32 | 8, 0, 0, 0, 0, 0},
	}
	for _, goarch := range []string{"amd64", "arm64"} {
		p := defaultProfile()
		if goarch == "arm64" {
			p.Architectures = []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
		}
		prog, err := CompileFor(p, goarch)
		if err != nil {
			t.Fatal(err)
		}
		vm := vmFor(t, prog)
		for _, name := range append([]specs.Arch{nativeArch[goarch]}, compatible[nativeArch[goarch]]...) {
			a := abis[name]
			var maxNr uint32
			for id := range syscallTable {
				if n, ok := a.nr(id); ok {
					maxNr = max(maxNr, n)
				}
			}
			base := uint32(0)
			if name == specs.ArchX32 {
				base = x32Bit
			}
			for n := base; n <= maxNr+3; n++ {
				for _, args := range argSets {
					want := reference(p, a, n, args)
					if got := vm(a.audit, n, args...); got != want {
						t.Fatalf("%s %s nr %d args %#x: got %#x, want %#x", goarch, name, n, args, got, want)
					}
				}
			}
		}
	}
}

// lookup returns name's number in this ABI.
func (a *abi) lookup(name string) (uint32, bool) {
	id := lookup(name)
	if id < 0 {
		return 0, false
	}
	return a.nr(id)
}

// defaultProfile is the seccomp profile spec.Generate gives a container
// with Docker's defaults (the host's / stands in for its root
// filesystem, read for /etc/passwd only).
func defaultProfile() *specs.LinuxSeccomp {
	s, err := spec.Generate("/", spec.Options{Cmd: []string{"sh"}})
	if err != nil {
		panic(err)
	}
	return s.Linux.Seccomp
}
