//go:build cgo

package hulltest

// cgoEnabled: this build has cgo, which hull needs on Linux.
const cgoEnabled = true
