// Package bench holds hull's benchmarks: Go benchmarks of the library's
// fast paths, each with sub-benchmarks that run the same work with the
// peers installed on the machine (skopeo, umoci, docker, ...), so that one
// run reports them side by side. compare.sh runs them and prints medians
// and ratios.
//
// Everything talks to a registry started in-process on 127.0.0.1 and to
// images built by the benchmark itself; nothing leaves the machine.
package bench
