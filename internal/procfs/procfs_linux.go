package procfs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ClockTick is USER_HZ, the unit of /proc/stat and /proc/<pid>/stat
// times: 100 on every Linux architecture hull runs on.
const ClockTick = 100

// Process is one host process as ps shows it (hull.Process without the
// user's name).
type Process struct {
	PID     int
	PPID    int
	UID     int // real user ID
	CPU     int // percent of CPU used over its lifetime
	Started time.Time
	TTY     string        // "?" when none
	Time    time.Duration // CPU time used
	Cmd     string        // command line, or [name] for a process without one
}

// ReadProcess reads /proc/<pid>/stat, status and cmdline; boot is the
// host's BootTime. A process that is gone fails with fs.ErrNotExist.
func ReadProcess(pid int, boot time.Time) (Process, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	data, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return Process{}, err
	}
	lp, rp := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if lp < 0 || rp < lp {
		return Process{}, fmt.Errorf("%s/stat: malformed", dir)
	}
	name := string(data[lp+1 : rp])
	f := bytes.Fields(data[rp+1:]) // f[0] is field 3
	if len(f) < 20 {
		return Process{}, fmt.Errorf("%s/stat: malformed", dir)
	}
	field := func(n int) uint64 { v, _ := strconv.ParseUint(string(f[n-3]), 10, 64); return v }
	p := Process{PID: pid, PPID: int(field(4)), TTY: ttyName(int(field(7)))}
	p.Time = time.Duration(field(14)+field(15)) * (time.Second / ClockTick)
	p.Started = boot.Add(time.Duration(field(22)) * (time.Second / ClockTick))
	if age := time.Since(p.Started); age > 0 {
		p.CPU = int(p.Time * 100 / age)
	}
	if uid, ok := statusUID(dir + "/status"); ok {
		p.UID = uid
	}
	cmdline, _ := os.ReadFile(dir + "/cmdline")
	if cmd := strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")); cmd != "" {
		p.Cmd = cmd
	} else {
		p.Cmd = "[" + name + "]"
	}
	return p, nil
}

// statusUID returns the real UID from a /proc/<pid>/status file.
func statusUID(path string) (int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
			ids := strings.Fields(rest)
			if len(ids) > 0 {
				n, err := strconv.Atoi(ids[0])
				return n, err == nil
			}
		}
	}
	return 0, false
}

// ttyName names a tty_nr from /proc/<pid>/stat as ps does, for the common
// terminals: pts/N, ttyN, else "?".
func ttyName(nr int) string {
	if nr == 0 {
		return "?"
	}
	major, minor := (nr>>8)&0xfff, (nr&0xff)|((nr>>12)&0xfff00)
	switch {
	case major >= 136 && major <= 143:
		return "pts/" + strconv.Itoa((major-136)*256+minor)
	case major == 4 && minor < 64:
		return "tty" + strconv.Itoa(minor)
	}
	return "?"
}

// BootTime is when the host booted, from /proc/stat's btime (the zero
// time if it cannot be read).
func BootTime() time.Time {
	data, err := os.ReadFile("/proc/stat")
	if err == nil {
		for line := range strings.Lines(string(data)) {
			if v, ok := strings.CutPrefix(line, "btime "); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				return time.Unix(n, 0)
			}
		}
	}
	return time.Time{}
}

// PasswdNames maps UIDs to names from the host's /etc/passwd (the first
// name of a UID wins), as docker top (ps on the host) shows them. It is
// empty if the file cannot be read.
func PasswdNames() map[int]string {
	names := map[int]string{}
	data, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return names
	}
	for line := range strings.Lines(string(data)) {
		f := strings.Split(strings.TrimSpace(line), ":")
		if len(f) < 3 {
			continue
		}
		if uid, err := strconv.Atoi(f[2]); err == nil {
			if _, dup := names[uid]; !dup {
				names[uid] = f[0]
			}
		}
	}
	return names
}
