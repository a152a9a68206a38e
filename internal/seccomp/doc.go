// Package seccomp compiles an OCI seccomp profile (specs.LinuxSeccomp) into
// a classic BPF program and loads it, in pure Go: no libseccomp, no cgo.
//
// The program checks the ABI (seccomp_data.arch, and the x32 bit on
// x86_64), then finds the syscall number with a binary search and runs
// that syscall's rules. Names an ABI does not have are skipped, as runc
// does, so one profile serves every ABI it lists.
package seccomp

//go:generate go run mktables.go
