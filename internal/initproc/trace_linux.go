package initproc

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// TraceEnv, when set (to a file name) in hull's process, makes the parent
// and every container init append one line per start-up phase to that file:
// pid, CLOCK_MONOTONIC nanoseconds and the phase name. It is for measuring
// the start path (bench/run_test.go); when unset it costs one branch.
const TraceEnv = "HULL_TRACE"

var traceFile = os.Getenv(TraceEnv)

// Tracing reports whether TraceEnv is set.
func Tracing() bool { return traceFile != "" }

// Trace records that phase what was reached, if tracing.
func Trace(what string) {
	if traceFile == "" {
		return
	}
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	line := strconv.Itoa(os.Getpid()) + " " + strconv.FormatInt(ts.Nano(), 10) + " " + what + "\n"
	if traceFD < 0 {
		// Kept open: the init pivots away from the host's files.
		fd, err := unix.Open(traceFile, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return
		}
		traceFD = fd
	}
	_, _ = unix.Write(traceFD, []byte(line))
}

var traceFD = -1
