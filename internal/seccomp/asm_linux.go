package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// asm assembles classic BPF with symbolic jump targets. A conditional
// jump reaches at most 255 instructions ahead, so the compiler only ever
// makes short ones (to the next instruction or within one rule) and
// reaches anything further with an unconditional ja, whose offset is
// 32 bits.
type asm struct {
	ins    []insn
	labels []label // label -> instruction index; -1 until bound
}

type insn struct {
	unix.SockFilter
	jt, jf, ja label // targets; 0 is the next instruction
}

// label names an instruction; label 0 always means "the next one".
type label int

// skip1 is the instruction after the next one: "jeq k, 0, skip1; ja far"
// reaches far only when A == k.
const skip1 label = -1

func (a *asm) label() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

// bind places l at the next instruction.
func (a *asm) bind(l label) { a.labels[l] = label(len(a.ins)) }

func (a *asm) emit(code uint16, k uint32) {
	a.ins = append(a.ins, insn{SockFilter: unix.SockFilter{Code: code, K: k}})
}

// load loads the 32-bit word at off in seccomp_data into A.
func (a *asm) load(off uint32) { a.emit(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off) }

// and masks A with k.
func (a *asm) and(k uint32) { a.emit(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, k) }

// jump compares A with k (op is BPF_JEQ, BPF_JGT or BPF_JGE) and goes to
// jt if true, jf if false.
func (a *asm) jump(op uint16, k uint32, jt, jf label) {
	a.ins = append(a.ins, insn{SockFilter: unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, K: k}, jt: jt, jf: jf})
}

// goTo jumps to l, however far.
func (a *asm) goTo(l label) {
	a.ins = append(a.ins, insn{SockFilter: unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA}, ja: l})
}

func (a *asm) ret(k uint32) { a.emit(unix.BPF_RET|unix.BPF_K, k) }

// program resolves the labels.
func (a *asm) program() ([]unix.SockFilter, error) {
	out := make([]unix.SockFilter, len(a.ins))
	for i, in := range a.ins {
		off := func(l label) (int, error) {
			switch l {
			case 0:
				return 0, nil
			case skip1:
				return 1, nil
			}
			at := int(a.labels[l])
			if at < 0 {
				return 0, fmt.Errorf("seccomp: internal error: label %d not bound", l)
			}
			if d := at - (i + 1); d >= 0 {
				return d, nil
			}
			return 0, fmt.Errorf("seccomp: internal error: backward jump at %d", i)
		}
		f := in.SockFilter
		if in.SockFilter.Code == unix.BPF_JMP|unix.BPF_JA {
			d, err := off(in.ja)
			if err != nil {
				return nil, err
			}
			f.K = uint32(d)
		} else if in.SockFilter.Code&0x07 == unix.BPF_JMP {
			t, err := off(in.jt)
			if err != nil {
				return nil, err
			}
			e, err := off(in.jf)
			if err != nil {
				return nil, err
			}
			if t > 255 || e > 255 {
				return nil, fmt.Errorf("seccomp: internal error: conditional jump too long at %d", i)
			}
			f.Jt, f.Jf = uint8(t), uint8(e)
		}
		out[i] = f
	}
	return out, nil
}
