//go:build !cgo

package nsenter

// Env names the variable that holds the PID whose namespaces to join.
const Env = "_HULL_NSENTER"

// PidNSFD is the descriptor of the container's pid namespace that the
// constructor leaves open (close-on-exec).
const PidNSFD = 9

// Available reports whether the constructor is linked in: not without cgo.
const Available = false
