//go:build linux

package bench

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
)

// mntnsEnv marks the benchmark binary once it runs in its own mount
// namespace.
const mntnsEnv = "HULL_BENCH_MNTNS"

// TestMain runs the benchmarks in a private mount namespace (re-executing
// the binary under `unshare --mount` when it runs as root), so that what
// the peers mount (podman's storage and netns bind mounts, dockerd's
// overlays) can never show up in the host's mount table and goes away
// with the process; then it stops the peer daemons the benchmarks started
// and removes what they left on the host.
func TestMain(m *testing.M) {
	if os.Getenv(mntnsEnv) == "" && os.Geteuid() == 0 {
		self, err1 := os.Executable()
		unshare, err2 := exec.LookPath("unshare")
		if err1 == nil && err2 == nil {
			os.Setenv(mntnsEnv, "1")
			args := append([]string{"unshare", "--mount", "--propagation", "private", "--", self}, os.Args[1:]...)
			err := syscall.Exec(unshare, args, os.Environ())
			fmt.Fprintf(os.Stderr, "bench: cannot re-execute in a private mount namespace (%v); peers may leave mounts behind\n", err)
		}
	}
	// Interrupted: still stop the peers (docker's containers would
	// outlive us).
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		stopPeers()
		os.Exit(2)
	}()
	code := m.Run()
	if err := stopPeers(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: cleaning up the peers: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
