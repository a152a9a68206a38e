package seccomp

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// sysEntry is one syscall name and its number in each ABI (-1: none).
type sysEntry struct {
	name string
	nr   [numABIs]int32
}

// Columns of syscallTable.
const (
	colX86_64 = iota
	colX32
	colI386
	colAARCH64
	colARM
	numABIs
)

// lookup returns name's index in syscallTable, or -1. The table is static
// data, so nothing is built at program start.
func lookup(name string) int {
	lo, hi := 0, len(syscallTable)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if syscallTable[m].name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(syscallTable) && syscallTable[lo].name == name {
		return lo
	}
	return -1
}

// Audit architecture numbers (linux/audit.h) that seccomp_data.arch holds.
const (
	auditArchX86_64  = 0xc000003e
	auditArchI386    = 0x40000003
	auditArchAARCH64 = 0xc00000b7
	auditArchARM     = 0x40000028
)

// x32Bit marks an x32 syscall number on the x86_64 audit arch.
const x32Bit = 0x40000000

// abi is one system call ABI a filter can admit.
type abi struct {
	arch   specs.Arch
	audit  uint32
	col    int  // column in syscallTable
	bits32 bool // arguments are 32-bit: compare only the low word
}

// nr returns the number of syscallTable[id] in this ABI.
func (a *abi) nr(id int) (uint32, bool) {
	n := syscallTable[id].nr[a.col]
	return uint32(n), n >= 0
}

var abis = map[specs.Arch]abi{
	specs.ArchX86_64:  {specs.ArchX86_64, auditArchX86_64, colX86_64, false},
	specs.ArchX32:     {specs.ArchX32, auditArchX86_64, colX32, false},
	specs.ArchX86:     {specs.ArchX86, auditArchI386, colI386, true},
	specs.ArchAARCH64: {specs.ArchAARCH64, auditArchAARCH64, colAARCH64, false},
	specs.ArchARM:     {specs.ArchARM, auditArchARM, colARM, true},
}

// nativeArch is the ABI of each GOARCH hull compiles filters for.
var nativeArch = map[string]specs.Arch{
	"amd64": specs.ArchX86_64,
	"arm64": specs.ArchAARCH64,
}

// compatible lists, per native ABI, the others a process may use on it.
var compatible = map[specs.Arch][]specs.Arch{
	specs.ArchX86_64:  {specs.ArchX86, specs.ArchX32},
	specs.ArchAARCH64: {specs.ArchARM},
}
