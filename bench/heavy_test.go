//go:build linux && heavyinit

package bench

// Built with -tags heavyinit (bench/compare.sh does), the benchmark
// binary is a program whose package initialisers take 20 ms
// (bench/heavyinit): a path of hull's that re-executes the program pays
// that on every start, one that clones a plan init does not.
import _ "github.com/hullbox/hull/bench/heavyinit"
