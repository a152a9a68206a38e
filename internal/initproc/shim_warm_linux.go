package initproc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ShimWarmMode is Env's value for a shim started ahead of time
// (internal/spawn's warm shim): the exec of the sealed binary and the Go
// runtime's start-up, with every package initialiser of the program that
// embeds hull, are most of what a Detached container's start costs, and a
// Runtime that starts them keeps one shim past them, waiting. It starts
// in its own session, with the parent-death signal SIGKILL (it dies with
// its Runtime while it waits), /dev/null for its standard streams and
// only ShimWarmFD: it says it is ready with one byte there, then waits
// for its ShimArgs (as JSON) with the descriptors a cold shim starts
// with (WarmShimFiles). Once it has them it clears its parent-death
// signal and is a shim like any.
const ShimWarmMode = "shim-warm"

// ShimWarmFD is a warm shim's socket to its Runtime.
const ShimWarmFD = 3

// ShimIDPlaceholder is a warm shim's second argument, which it overwrites
// with its container's id once assigned, so that it shows in ps as a
// cold shim does ("hull-shim <id>", which the sweep of a gone root looks
// for): the kernel reads a process's command line from its memory.
var ShimIDPlaceholder = strings.Repeat("-", 64)

// Which descriptors come with a warm shim's assignment, in this order:
// the config pipe's read end, the status pipe's write end, the shim's
// log (its stderr) and, when ShimArgs.CgroupFD is not 0, the cgroup v2
// directory (its number then replaced by the one it is given).
const (
	warmShimConfig = iota
	warmShimStatus
	warmShimLog
	warmShimCgroup
)

// maxShimArgs bounds a warm shim's assignment (a cold shim's ShimArgs
// are an environment variable, bounded by the kernel).
const maxShimArgs = 1 << 20

func runWarmShim() int {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGPIPE)
	closeExecFrom(ShimWarmFD)
	warmJSON()
	if _, err := unix.Write(ShimWarmFD, []byte{1}); err != nil {
		return 125
	}
	args, err := recvAssignment()
	if err != nil {
		fmt.Fprintf(os.Stderr, "hull shim: %v\n", err)
		return 125
	}
	Trace("C warm shim assigned")
	setShimID(args.ID)
	return shimMain(args)
}

// recvAssignment waits for the shim's arguments and descriptors, clears
// the parent-death signal and puts the descriptors where a cold shim has
// them.
func recvAssignment() (ShimArgs, error) {
	var args ShimArgs
	buf := make([]byte, maxShimArgs)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := unix.Recvmsg(ShimWarmFD, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return args, fmt.Errorf("receive assignment: %w", err)
	}
	if n == 0 {
		return args, errors.New("receive assignment: the Runtime went away")
	}
	// Ours from now on: a Detached container outlives its creator.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0); err != nil {
		return args, fmt.Errorf("clear pdeathsig: %w", err)
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return args, fmt.Errorf("receive assignment: %w", err)
		}
		for _, m := range msgs {
			got, err := unix.ParseUnixRights(&m)
			if err != nil {
				return args, fmt.Errorf("receive assignment: %w", err)
			}
			fds = append(fds, got...)
		}
	}
	if err := json.Unmarshal(buf[:n], &args); err != nil {
		return args, fmt.Errorf("receive assignment: %w", err)
	}
	want := warmShimCgroup
	if args.CgroupFD != 0 {
		want++
	}
	if len(fds) != want {
		return args, fmt.Errorf("receive assignment: %d descriptors, want %d", len(fds), want)
	}
	unix.Close(ShimWarmFD)
	// Above every place first, so that no dup3 below replaces one still
	// to be placed.
	for i, fd := range fds {
		moved, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 10)
		if err != nil {
			return args, fmt.Errorf("place descriptors: %w", err)
		}
		unix.Close(fd)
		fds[i] = moved
	}
	for i, target := range [...]int{warmShimConfig: configFD, warmShimStatus: statusFD, warmShimLog: 2} {
		if err := unix.Dup3(fds[i], target, 0); err != nil {
			return args, fmt.Errorf("place descriptors: %w", err)
		}
		unix.Close(fds[i])
	}
	if args.CgroupFD != 0 {
		args.CgroupFD = fds[warmShimCgroup]
	}
	return args, nil
}

// setShimID writes id over the placeholder argument (ShimIDPlaceholder)
// the shim was started with. Go's os.Args hold the kernel's argument
// strings without a copy; were that not so, the command line would stay
// the placeholder (the log says so).
func setShimID(id string) {
	if len(os.Args) != 2 || os.Args[1] != ShimIDPlaceholder || len(id) != len(ShimIDPlaceholder) {
		fmt.Fprintf(os.Stderr, "hull shim: command line not set to %s\n", id)
		return
	}
	copy(unsafe.Slice(unsafe.StringData(os.Args[1]), len(id)), id)
	if got, err := os.ReadFile("/proc/self/cmdline"); err != nil || string(got) != "hull-shim\x00"+id+"\x00" {
		fmt.Fprintf(os.Stderr, "hull shim: command line not set to %s: %q\n", id, got)
	}
}
