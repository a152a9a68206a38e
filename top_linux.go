package hull

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Top lists the container's processes, as `docker top`: every process in
// its cgroup, with host PIDs, sorted by PID. It fails with a
// *TransitionError (ErrConflict) unless the container is running or
// paused.
func (c *Container) Top(ctx context.Context) ([]Process, error) {
	cg, err := c.liveCgroup(actTop)
	if err != nil {
		return nil, err
	}
	pids, err := cg.Procs()
	if err != nil {
		return nil, fmt.Errorf("top container %s: %w", shortContainerID(c.id), err)
	}
	boot := bootTime()
	users := passwdNames()
	out := make([]Process, 0, len(pids))
	for _, pid := range pids {
		p, err := readProcess(pid, boot)
		if errors.Is(err, fs.ErrNotExist) {
			continue // exited meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("top container %s: %w", shortContainerID(c.id), err)
		}
		p.User = users[p.UID]
		if p.User == "" {
			p.User = strconv.Itoa(p.UID)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Process) int { return a.PID - b.PID })
	return out, nil
}

// readProcess reads /proc/<pid>/stat, status and cmdline.
func readProcess(pid int, boot time.Time) (Process, error) {
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
	p.Time = time.Duration(field(14)+field(15)) * (time.Second / clockTick)
	p.Started = boot.Add(time.Duration(field(22)) * (time.Second / clockTick))
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

// bootTime is when the host booted, from /proc/stat's btime.
func bootTime() time.Time {
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

// passwdNames maps UIDs to names from the host's /etc/passwd, as docker
// top (ps on the host) shows them.
func passwdNames() map[int]string {
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
