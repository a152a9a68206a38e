//go:build !cgo

package initproc

// planAvailable: without cgo there is no plan.c, and every container gets
// the Go init (see PlanMode).
const planAvailable = false
