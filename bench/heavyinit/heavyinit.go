// Package heavyinit stands for the packages of a real embedding program
// (a Kubernetes client, a cloud SDK, a CI system's plugins) whose
// initialisers take tens of milliseconds: importing it makes the
// program's start-up cost at least Spin of CPU. The benchmarks built with
// the heavyinit tag (bench/heavy_test.go, bench/compare.sh) import it, to
// show which of hull's paths pay for starting the program that linked it.
package heavyinit

import "time"

// Spin is how long this package's init keeps the CPU busy.
const Spin = 20 * time.Millisecond

// Ran is when this package's init ended, in this process.
var Ran time.Time

func init() {
	start := time.Now()
	for time.Since(start) < Spin {
	}
	Ran = time.Now()
}
