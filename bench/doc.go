// Package bench holds hull's benchmarks: Go benchmarks of the library's
// fast paths, each with sub-benchmarks that run the same work with the
// peers installed on the machine (skopeo, umoci, runc, crun, docker,
// podman, docker-proxy, docker-compose, podman-compose), so that one run
// reports them side by side.
// compare.sh runs them and prints medians and ratios of every metric
// (time, MB/s, host KiB per container ...).
//
// Everything talks to a registry started in-process on 127.0.0.1 and to
// images built by the benchmark itself (busybox plus a static Go sink,
// loaded into docker and podman from an archive hull saves); nothing
// leaves the machine. docker and podman run only inside a private network
// namespace, with all their state in a temporary directory: a private
// dockerd started on first use and podman with its own root; the bench
// binary runs in its own mount namespace, and TestMain stops the daemon
// and removes their cgroups, directories and host files afterwards (see
// peers_test.go).
package bench
