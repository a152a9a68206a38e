//go:build !cgo

package initproc

import (
	"errors"
	"syscall"
)

// planAvailable: without cgo there is no plan.c, and every container gets
// the Go init (see Spawn).
const planAvailable = false

// SpawnStack exists only with cgo (plan_cgo_linux.go).
type SpawnStack struct{}

var errNoCgo = errors.New("plan inits need cgo")

// NewSpawnStack fails without cgo.
func NewSpawnStack() (*SpawnStack, error) { return nil, errNoCgo }

// Free does nothing.
func (s *SpawnStack) Free() {}

// Spawn fails without cgo: Compile never returns a plan to give it.
func Spawn(*SpawnStack, []byte, uintptr, [3]int, int, int, int, int, syscall.Signal, *ForkSlot) (int, error) {
	return 0, errNoCgo
}

// SpawnTold fails without cgo, as Spawn.
func SpawnTold(*SpawnStack, []byte, uintptr, [3]int, int, int, int, *ForkSlot, *ForkSlot) error {
	return errNoCgo
}

// cExecutes: without cgo there is no plan.c, and no executor.
func cExecutes(uint32) bool { return false }

// ForkSlot exists only with cgo (plan_cgo_linux.go).
type ForkSlot struct{}

// NewForkSlot returns a slot no child is ever written to.
func NewForkSlot() *ForkSlot { return &ForkSlot{} }

// Pid is 0: without cgo no exec's child is cloned.
func (f *ForkSlot) Pid() int { return 0 }

// Free does nothing.
func (f *ForkSlot) Free() {}

// Undumpable is false: without cgo no exec's plan runs.
func Undumpable() bool { return false }
