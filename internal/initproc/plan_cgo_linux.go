//go:build cgo

package initproc

// #cgo CFLAGS: -Wall -O2
import "C"

// planAvailable: plan.c's constructor is linked in (see PlanMode).
const planAvailable = true
