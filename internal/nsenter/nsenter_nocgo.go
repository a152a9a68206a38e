//go:build !cgo

package nsenter

// Env names the variable that holds the PID whose namespaces to join.
const Env = "_HULL_NSENTER"

// Available reports whether the constructor is linked in: not without cgo.
const Available = false
