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
func Spawn(*SpawnStack, []byte, uintptr, [3]int, int, int, int, syscall.Signal) (int, error) {
	return 0, errNoCgo
}

// cExecutes: without cgo there is no plan.c, and no executor.
func cExecutes(uint32) bool { return false }
