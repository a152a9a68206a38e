//go:build !cgo

package hulltest

// cgoEnabled: this build lacks cgo; on Linux, Require skips.
const cgoEnabled = false
