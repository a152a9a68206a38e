package initproc

import (
	"encoding/binary"
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
// with (warmShimConfig...). Once it has them it clears its parent-death
// signal and is a shim like any, until its container's init is reaped.
// Then, if all of that container's is closed and the Runtime still
// runs, it sends its exit code (4 bytes) where a cold shim would exit
// with it, sets its parent-death signal again and waits for the next
// container: a Runtime that starts Detached containers one after another
// pays for one shim's start-up, not one each.
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
// log (its stderr), then, each when its ShimArgs field is not 0, the
// config pipe's write end (GoFD) and the cgroup v2 directory (CgroupFD);
// the shim puts its own numbers of them in those fields.
const (
	warmShimConfig = iota
	warmShimStatus
	warmShimLog
	warmShimOptional
)

// maxShimArgs bounds a warm shim's assignment (a cold shim's ShimArgs
// are an environment variable, bounded by the kernel).
const maxShimArgs = 1 << 20

func runWarmShim() int {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGPIPE)
	parent := os.Getppid()
	// Off 3 and 4, which a cold shim's pipes have: ours are received.
	ctl, err := unix.FcntlInt(ShimWarmFD, unix.F_DUPFD_CLOEXEC, 10)
	if err != nil {
		return 125
	}
	unix.Close(ShimWarmFD)
	closeExecFrom(ShimWarmFD)
	warmJSON()
	if _, err := unix.Write(ctl, []byte{1}); err != nil {
		return 125
	}
	for {
		args, cfgR, status, err := recvAssignment(ctl)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hull shim: %v\n", err)
			return 125
		}
		Trace("C warm shim assigned")
		setShimID(args.ID)
		code, clean := shimMain(args, cfgR, status)
		// Once more warm, if the Runtime that started us still runs and
		// all this container's is closed: the same parent, the
		// parent-death signal again, then its exit code to the Runtime,
		// which hands us the next container or lets us go (EOF).
		if !clean || unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0) != nil || os.Getppid() != parent {
			return code
		}
		// Back in the pool: no longer that container's shim, for ps
		// and the sweep, nor writing to its log.
		setShimID(ShimIDPlaceholder)
		if null, err := unix.Open("/dev/null", unix.O_WRONLY|unix.O_CLOEXEC, 0); err == nil {
			_ = unix.Dup3(null, 2, 0)
			unix.Close(null)
		}
		if _, err := unix.Write(ctl, binary.LittleEndian.AppendUint32(nil, uint32(code))); err != nil {
			return code
		}
	}
}

// recvAssignment waits for the shim's arguments and descriptors on ctl,
// clears the parent-death signal and makes the log its stderr.
func recvAssignment(ctl int) (args ShimArgs, cfgR, status *os.File, _ error) {
	buf := make([]byte, maxShimArgs)
	oob := make([]byte, unix.CmsgSpace(8*4)) // room for more than the 5 we take: a truncation fails the count below
	n, oobn, flags, _, err := unix.Recvmsg(ctl, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return args, nil, nil, fmt.Errorf("receive assignment: %w", err)
	}
	if flags&(unix.MSG_CTRUNC|unix.MSG_TRUNC) != 0 {
		return args, nil, nil, errors.New("receive assignment: cut short")
	}
	if n == 0 {
		return args, nil, nil, errors.New("receive assignment: the Runtime let us go")
	}
	// Ours from now on: a Detached container outlives its creator.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0); err != nil {
		return args, nil, nil, fmt.Errorf("clear pdeathsig: %w", err)
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return args, nil, nil, fmt.Errorf("receive assignment: %w", err)
		}
		for _, m := range msgs {
			got, err := unix.ParseUnixRights(&m)
			if err != nil {
				return args, nil, nil, fmt.Errorf("receive assignment: %w", err)
			}
			fds = append(fds, got...)
		}
	}
	if err := json.Unmarshal(buf[:n], &args); err != nil {
		return args, nil, nil, fmt.Errorf("receive assignment: %w", err)
	}
	optional := []*int{&args.GoFD, &args.CgroupFD}
	want := warmShimOptional
	for _, o := range optional {
		if *o != 0 {
			want++
		}
	}
	if len(fds) != want {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return args, nil, nil, fmt.Errorf("receive assignment: %d descriptors, want %d", len(fds), want)
	}
	if err := unix.Dup3(fds[warmShimLog], 2, 0); err != nil {
		return args, nil, nil, fmt.Errorf("receive assignment: %w", err)
	}
	unix.Close(fds[warmShimLog])
	next := warmShimOptional
	for _, o := range optional {
		if *o != 0 {
			*o = fds[next]
			next++
		}
	}
	return args, os.NewFile(uintptr(fds[warmShimConfig]), "config"), os.NewFile(uintptr(fds[warmShimStatus]), "status"), nil
}

// setShimID writes id over the argument the shim was started with
// (ShimIDPlaceholder, or its previous container's id). Go's os.Args hold
// the kernel's argument strings without a copy; were that not so, the
// command line would stay as it was (the log says so).
func setShimID(id string) {
	if len(os.Args) != 2 || len(os.Args[1]) != len(id) {
		fmt.Fprintf(os.Stderr, "hull shim: command line not set to %s\n", id)
		return
	}
	copy(unsafe.Slice(unsafe.StringData(os.Args[1]), len(id)), id)
	if got, err := os.ReadFile("/proc/self/cmdline"); err != nil || string(got) != "hull-shim\x00"+id+"\x00" {
		fmt.Fprintf(os.Stderr, "hull shim: command line not set to %s: %q\n", id, got)
	}
}
