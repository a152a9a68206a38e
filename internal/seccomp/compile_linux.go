package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Return values of a filter (linux/seccomp.h).
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retTrace       = 0x7ff00000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000
)

// badArch is what a syscall from an ABI the profile does not admit gets:
// the process is killed, as libseccomp's default bad-arch action does.
const badArch = retKillProcess

// maxInsns is the kernel's limit on a filter's length (BPF_MAXINSNS).
const maxInsns = 4096

// ErrUnsupported is wrapped by Compile's error for a profile this
// package cannot compile: an unknown action, operator or architecture.
var ErrUnsupported = errors.New("unsupported seccomp profile")

// Compile compiles p into a BPF program for the running architecture. See
// CompileFor.
func Compile(p *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	return CompileFor(p, runtime.GOARCH)
}

// CompileFor compiles p into a BPF program for goarch ("amd64" or
// "arm64"). The native ABI is always admitted; the others p lists are
// admitted when they can run on goarch (i386 and x32 on amd64, arm on
// arm64); a syscall from any other ABI kills the process.
//
// The semantics are libseccomp's as runc uses it: names an ABI does not
// know are skipped; a rule's argument conditions are ANDed, except that
// conditions that repeat an argument index are ORed (each becomes its own
// rule, as runc does); several rules for one syscall are ORed. A syscall's
// rules with conditions are tried in profile order and the first that
// matches decides; if none does, its rule without conditions (the first
// one) decides, else the default action. Errno actions without ErrnoRet
// return EPERM.
func CompileFor(p *specs.LinuxSeccomp, goarch string) ([]unix.SockFilter, error) {
	native, ok := nativeArch[goarch]
	if !ok {
		return nil, fmt.Errorf("%w: architecture %s", ErrUnsupported, goarch)
	}
	dflt, err := action(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	admitted := []specs.Arch{native}
	for _, a := range p.Architectures {
		if slices.Contains(compatible[native], a) && !slices.Contains(admitted, a) {
			admitted = append(admitted, a)
		}
	}
	rules, err := parseRules(p.Syscalls)
	if err != nil {
		return nil, err
	}
	c := &compiler{asm: &asm{ins: make([]insn, 0, 1024), labels: make([]label, 1, 512)}, rets: map[uint32]label{}}
	c.labels[0] = -1
	c.dflt = c.retLabel(dflt)
	c.compile(admitted, rules)
	c.emitRets()
	prog, err := c.program()
	if err != nil {
		return nil, err
	}
	if len(prog) > maxInsns {
		return nil, fmt.Errorf("%w: filter of %d instructions is above the kernel's %d", ErrUnsupported, len(prog), maxInsns)
	}
	return prog, nil
}

// rule is one syscall rule: the action when every condition holds.
type rule struct {
	ids  []int // in syscallTable; names no ABI has are dropped
	ret  uint32
	args []specs.LinuxSeccompArg
}

func parseRules(scs []specs.LinuxSyscall) ([]rule, error) {
	var out []rule
	for _, sc := range scs {
		ret, err := action(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("syscalls %v: %w", sc.Names, err)
		}
		for _, a := range sc.Args {
			if a.Index > 5 {
				return nil, fmt.Errorf("%w: syscalls %v: argument index %d", ErrUnsupported, sc.Names, a.Index)
			}
			if !validOp(a.Op) {
				return nil, fmt.Errorf("%w: syscalls %v: operator %q", ErrUnsupported, sc.Names, a.Op)
			}
		}
		ids := make([]int, 0, len(sc.Names))
		for _, name := range sc.Names {
			if id := lookup(name); id >= 0 {
				ids = append(ids, id)
			}
		}
		if repeatsIndex(sc.Args) {
			for _, a := range sc.Args {
				out = append(out, rule{ids: ids, ret: ret, args: []specs.LinuxSeccompArg{a}})
			}
			continue
		}
		out = append(out, rule{ids: ids, ret: ret, args: sc.Args})
	}
	return out, nil
}

func repeatsIndex(args []specs.LinuxSeccompArg) bool {
	seen := map[uint]bool{}
	for _, a := range args {
		if seen[a.Index] {
			return true
		}
		seen[a.Index] = true
	}
	return false
}

func validOp(op specs.LinuxSeccompOperator) bool {
	switch op {
	case specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
		specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual:
		return true
	}
	return false
}

// action returns the filter's return value for act.
func action(act specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	data := func(dflt uint) uint32 {
		if errnoRet != nil {
			return uint32(*errnoRet) & 0xffff
		}
		return uint32(dflt)
	}
	switch act {
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActErrno:
		return retErrno | data(uint(unix.EPERM)), nil
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActTrace:
		return retTrace | data(uint(unix.EPERM)), nil
	case specs.ActLog:
		return retLog, nil
	}
	return 0, fmt.Errorf("%w: action %q", ErrUnsupported, act)
}

type compiler struct {
	*asm
	rets map[uint32]label // shared return instructions, by value
	dflt label
}

func (c *compiler) retLabel(v uint32) label {
	if l, ok := c.rets[v]; ok {
		return l
	}
	l := c.label()
	c.rets[v] = l
	return l
}

// emitRets places the shared return instructions at the end.
func (c *compiler) emitRets() {
	vals := make([]uint32, 0, len(c.rets))
	for v := range c.rets {
		vals = append(vals, v)
	}
	slices.Sort(vals)
	for _, v := range vals {
		c.bind(c.rets[v])
		c.ret(v)
	}
}

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// compile emits the arch dispatch, then one section per audit arch.
func (c *compiler) compile(admitted []specs.Arch, rules []rule) {
	type section struct {
		audit     uint32
		main, x32 *abi
		at        label
	}
	var secs []*section
	for _, name := range admitted {
		a := abis[name]
		if name == specs.ArchX32 {
			continue
		}
		secs = append(secs, &section{audit: a.audit, main: &a, at: c.label()})
	}
	if slices.Contains(admitted, specs.ArchX32) {
		a := abis[specs.ArchX32]
		for _, s := range secs {
			if s.audit == a.audit {
				s.x32 = &a
			}
		}
	}
	c.load(offArch)
	for _, s := range secs {
		c.jump(unix.BPF_JEQ, s.audit, 0, skip1)
		c.goTo(s.at)
	}
	c.goTo(c.retLabel(badArch))
	for _, s := range secs {
		c.bind(s.at)
		c.load(offNr)
		if s.main.audit == auditArchX86_64 {
			// x32 numbers carry x32Bit on the same audit arch.
			x32 := c.retLabel(badArch)
			if s.x32 != nil {
				x32 = c.label()
			}
			c.jump(unix.BPF_JGE, x32Bit, 0, skip1)
			c.goTo(x32)
			c.abiSection(s.main, rules)
			if s.x32 != nil {
				c.bind(x32)
				c.abiSection(s.x32, rules)
			}
			continue
		}
		c.abiSection(s.main, rules)
	}
}

// syscallRules is what one syscall number does.
type syscallRules struct {
	used        bool
	nr          uint32
	conditional []rule
	uncond      *rule
}

// abiSection emits the search over this ABI's syscall numbers (A holds
// the number) and the bodies of those with conditions.
func (c *compiler) abiSection(a *abi, rules []rule) {
	// Numbers are small and dense (x32's sit above a common base): index
	// a slice by nr-base rather than hash them.
	base, top := ^uint32(0), uint32(0)
	for id := range syscallTable {
		if nr, ok := a.nr(id); ok {
			base, top = min(base, nr), max(top, nr)
		}
	}
	byNr := make([]syscallRules, top-base+1)
	var nrs []uint32
	for i := range rules {
		r := &rules[i]
		for _, id := range r.ids {
			nr, ok := a.nr(id)
			if !ok {
				continue // not a syscall of this ABI
			}
			s := &byNr[nr-base]
			if !s.used {
				s.used, s.nr = true, nr
				nrs = append(nrs, nr)
			}
			if len(r.args) == 0 {
				if s.uncond == nil {
					s.uncond = r
				}
			} else {
				s.conditional = append(s.conditional, *r)
			}
		}
	}
	slices.Sort(nrs)
	targets := make([]label, len(nrs))
	type body struct {
		at label
		s  *syscallRules
	}
	var bodies []body
	for i, nr := range nrs {
		s := &byNr[nr-base]
		if len(s.conditional) == 0 {
			targets[i] = c.retLabel(s.uncond.ret)
			continue
		}
		targets[i] = c.label()
		bodies = append(bodies, body{targets[i], s})
	}
	c.search(nrs, targets)
	for _, b := range bodies {
		c.bind(b.at)
		c.syscallBody(a, b.s)
	}
}

// search emits a binary search for A over the syscall numbers: nrs
// (sorted) go to their targets, every other number to the default
// action. Runs of consecutive numbers with the same target (allowed
// syscalls are mostly contiguous) become one range, so the search is
// over ranges, not numbers: a filter of a few hundred instructions that
// decides in about 2·log2(ranges) of them.
func (c *compiler) search(nrs []uint32, targets []label) {
	var starts []uint32
	var to []label
	add := func(start uint32, l label) {
		n := len(to)
		if n > 0 && starts[n-1] == start { // the previous range is empty
			starts, to, n = starts[:n-1], to[:n-1], n-1
		}
		if n > 0 && to[n-1] == l {
			return // extends the previous range
		}
		starts, to = append(starts, start), append(to, l)
	}
	add(0, c.dflt)
	for i, nr := range nrs {
		if i > 0 && nrs[i-1]+1 < nr || i == 0 && nr > 0 {
			add(prevEnd(nrs, i), c.dflt)
		}
		add(nr, targets[i])
	}
	if len(nrs) > 0 {
		add(nrs[len(nrs)-1]+1, c.dflt)
	}
	c.searchRanges(starts, to)
}

// prevEnd is the first number after nrs[i-1] (0 for i == 0).
func prevEnd(nrs []uint32, i int) uint32 {
	if i == 0 {
		return 0
	}
	return nrs[i-1] + 1
}

// searchRanges goes to to[i] when starts[i] <= A < starts[i+1]; A is known
// to be at least starts[0].
func (c *compiler) searchRanges(starts []uint32, to []label) {
	if len(starts) == 1 {
		c.goTo(to[0])
		return
	}
	mid := len(starts) / 2
	right := c.label()
	c.jump(unix.BPF_JGE, starts[mid], 0, skip1)
	c.goTo(right)
	c.searchRanges(starts[:mid], to[:mid])
	c.bind(right)
	c.searchRanges(starts[mid:], to[mid:])
}

// syscallBody tries the syscall's conditional rules in order, then falls
// back to its unconditional rule or the default action.
func (c *compiler) syscallBody(a *abi, s *syscallRules) {
	for _, r := range s.conditional {
		next := c.label()
		for _, arg := range r.args {
			c.condition(a, arg, next)
		}
		c.goTo(c.retLabel(r.ret))
		c.bind(next)
	}
	if s.uncond != nil {
		c.goTo(c.retLabel(s.uncond.ret))
		return
	}
	c.goTo(c.dflt)
}

// condition falls through when arg's condition holds, else jumps to fail.
// Arguments are compared as unsigned 64-bit values, high word first; on a
// 32-bit ABI only the low word counts. seccomp_data is in the native byte
// order: little-endian on every architecture hull supports.
func (c *compiler) condition(a *abi, arg specs.LinuxSeccompArg, fail label) {
	lo := uint32(offArgs + 8*arg.Index)
	hi := lo + 4
	v, v2 := arg.Value, arg.ValueTwo
	vhi, vlo := uint32(v>>32), uint32(v)
	if a.bits32 {
		switch arg.Op {
		case specs.OpMaskedEqual:
			c.load(lo)
			c.and(uint32(v))
			c.jump(unix.BPF_JEQ, uint32(v2), 0, fail)
		default:
			c.cmp32(arg.Op, lo, vlo, fail)
		}
		return
	}
	ok := c.label()
	switch arg.Op {
	case specs.OpEqualTo:
		c.load(hi)
		c.jump(unix.BPF_JEQ, vhi, 0, fail)
		c.load(lo)
		c.jump(unix.BPF_JEQ, vlo, 0, fail)
	case specs.OpNotEqual:
		c.load(hi)
		c.jump(unix.BPF_JEQ, vhi, 0, ok)
		c.load(lo)
		c.jump(unix.BPF_JEQ, vlo, fail, 0)
	case specs.OpMaskedEqual:
		c.load(hi)
		c.and(uint32(v >> 32))
		c.jump(unix.BPF_JEQ, uint32(v2>>32), 0, fail)
		c.load(lo)
		c.and(uint32(v))
		c.jump(unix.BPF_JEQ, uint32(v2), 0, fail)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		c.load(hi)
		c.jump(unix.BPF_JGT, vhi, ok, 0)
		c.jump(unix.BPF_JEQ, vhi, 0, fail)
		c.load(lo)
		op := uint16(unix.BPF_JGT)
		if arg.Op == specs.OpGreaterEqual {
			op = unix.BPF_JGE
		}
		c.jump(op, vlo, 0, fail)
	case specs.OpLessThan, specs.OpLessEqual:
		c.load(hi)
		c.jump(unix.BPF_JGT, vhi, fail, 0)
		c.jump(unix.BPF_JEQ, vhi, 0, ok)
		c.load(lo)
		op := uint16(unix.BPF_JGE) // a < v fails when a >= v
		if arg.Op == specs.OpLessEqual {
			op = unix.BPF_JGT
		}
		c.jump(op, vlo, fail, 0)
	}
	c.bind(ok)
}

// cmp32 compares the 32-bit word at off with v.
func (c *compiler) cmp32(op specs.LinuxSeccompOperator, off, v uint32, fail label) {
	c.load(off)
	switch op {
	case specs.OpEqualTo:
		c.jump(unix.BPF_JEQ, v, 0, fail)
	case specs.OpNotEqual:
		c.jump(unix.BPF_JEQ, v, fail, 0)
	case specs.OpGreaterThan:
		c.jump(unix.BPF_JGT, v, 0, fail)
	case specs.OpGreaterEqual:
		c.jump(unix.BPF_JGE, v, 0, fail)
	case specs.OpLessThan:
		c.jump(unix.BPF_JGE, v, fail, 0)
	case specs.OpLessEqual:
		c.jump(unix.BPF_JGT, v, fail, 0)
	}
}
