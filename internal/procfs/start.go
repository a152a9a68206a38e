package procfs

import (
	"bytes"
	"os"
	"strconv"
)

// Stat returns the start time of process pid, field 22 of
// /proc/<pid>/stat in clock ticks since boot (0 if there is no such
// process), and whether it has exited (a zombie its parent has not
// reaped yet). A PID and its start time name one process: a PID reused
// has another start time. Where there is no /proc, there is no process.
func Stat(pid int) (start uint64, exited bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces and parentheses: fields
	// are counted after its last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	fields := bytes.Fields(data[i+1:])
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return 0, false
	}
	v, _ := strconv.ParseUint(string(fields[19]), 10, 64)
	return v, string(fields[0]) == "Z" || string(fields[0]) == "X"
}

// StartTime is Stat's start time of a process that runs: 0 if pid does
// not exist or has exited.
func StartTime(pid int) uint64 {
	start, exited := Stat(pid)
	if exited {
		return 0 // a zombie is not running any more
	}
	return start
}
