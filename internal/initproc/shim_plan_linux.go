package initproc

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// A Detached container's shim clones a plan init as an owner does (Spawn,
// plan.c) when its owner compiled the config into a plan (ShimArgs.Plan):
// no Go program starts inside the container's namespaces, and the shim's
// own start-up is the only Go start-up on the way to the command's exec.
// The init reports to the owner directly, who words its failures with
// its own copy of the plan (Word).

// WritePlan sends a shim what it needs of cfg (not the spec: the plan
// has all of it) and the plan (Compile's), each length-prefixed.
func WritePlan(w io.Writer, cfg *Config, plan []byte) error {
	c := *cfg
	c.Spec, c.SeccompBPF = nil, nil
	data, err := json.Marshal(&c)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, 8+len(data)+len(plan))
	buf = append(binary.LittleEndian.AppendUint32(buf, uint32(len(data))), data...)
	buf = append(binary.LittleEndian.AppendUint32(buf, uint32(len(plan))), plan...)
	_, err = w.Write(buf)
	return err
}

// readShimConfig reads what WritePlan sends of the config.
func readShimConfig(r io.Reader) (*Config, error) {
	data, err := readPlan(r)
	if err != nil {
		return nil, err
	}
	var cfg Config
	return &cfg, json.Unmarshal(data, &cfg)
}

// readPlan reads a length-prefixed plan, or config (WritePlan).
func readPlan(r io.Reader) ([]byte, error) {
	var n uint32
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return nil, err
	}
	if n > maxPlanSize {
		return nil, fmt.Errorf("plan of %d bytes", n)
	}
	plan := make([]byte, n)
	_, err := io.ReadFull(r, plan)
	return plan, err
}

// startPlan reads what it needs of the config and the plan, and clones
// the plan init as our child with the container's namespaces, its config
// pipe cfgR and its status pipe our parent's; we learn its pid from the
// kernel (SpawnTold) and move it into its cgroup on v2 (on v1 it joins
// its own). Our go-ahead comes once we serve it (goAhead). On failure, s
// is nil and code the shim's exit code.
func startPlan(args ShimArgs, cfgR, status *os.File) (s *shim, cfg *Config, code int) {
	r := ownerReader{cfg: cfgR, status: status}
	cfg, err := readShimConfig(r)
	var plan []byte
	if err == nil {
		plan, err = readPlan(r)
	}
	if err != nil {
		return nil, nil, report(status, fail("shim", err))
	}
	s = &shim{}
	pid, err := s.spawnPlan(args, plan, cfgR, status)
	if err != nil {
		return nil, nil, report(status, fail("shim", err))
	}
	if s.proc, err = os.FindProcess(pid); err != nil {
		return nil, nil, report(status, fail("shim", err))
	}
	if args.CgroupFD != 0 {
		err = moveIn(args.CgroupFD, pid)
		unix.Close(args.CgroupFD)
		if err != nil {
			code := report(status, fail("shim", fmt.Errorf("join cgroup: %w", err)))
			_ = s.proc.Kill()
			_, _ = s.proc.Wait()
			return nil, nil, code
		}
	}
	// The init's from now on: EOF for our parent when it execs.
	status.Close()
	cfgR.Close()
	return s, cfg, 0
}

// moveIn writes pid to cgroup.procs of the cgroup v2 directory dir. A
// task the kernel has not finished forking is refused with EINVAL for a
// moment (internal/cgroup's join).
func moveIn(dir, pid int) error {
	fd, err := unix.Openat(dir, "cgroup.procs", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	b := []byte(strconv.Itoa(pid))
	_, err = unix.Write(fd, b)
	for i := 0; errors.Is(err, unix.EINVAL) && i < 5; i++ {
		time.Sleep(time.Millisecond << i)
		_, err = unix.Write(fd, b)
	}
	return err
}

// goAhead lets the init run its plan: the go-ahead on the config pipe
// (args.GoFD, which we close then: the owner's start byte is the only
// byte left to come). It returns what tells whether the init read its
// start byte.
func (s *shim) goAhead(args ShimArgs) (started func() bool) {
	w := os.NewFile(uintptr(args.GoFD), "go")
	_, _ = w.Write([]byte{1}) // if the init is gone, so is the container
	w.Close()
	return func() bool { return s.started.Pid() != 0 }
}

// spawnPlan clones the plan init (SpawnTold) on a thread of its own,
// which waits until the init execs or exits, and returns its pid once
// the kernel has set it.
func (s *shim) spawnPlan(args ShimArgs, plan []byte, cfgR, status *os.File) (pid int, err error) {
	ends, err := s.pipes(args)
	defer ends.close()
	if err != nil {
		return 0, err
	}
	var stdio [3]int
	for i, f := range ends.stdio {
		stdio[i] = -1
		if f != nil {
			stdio[i] = int(f.Fd())
		}
	}
	console := -1
	if ends.console != nil {
		console = int(ends.console.Fd())
	}
	told := NewForkSlot()
	s.started = NewForkSlot() // freed by release, once the init is reaped
	cloned, read := make(chan error, 1), make(chan struct{})
	defer close(read)
	cfgFD, statFD := int(cfgR.Fd()), int(status.Fd())
	go func() {
		// Never unlocked: the thread ends with the goroutine, once the
		// init has exec'd (no pdeathsig: a Detached init outlives us).
		runtime.LockOSThread()
		stack, err := NewSpawnStack()
		if err == nil {
			err = SpawnTold(stack, plan, args.Cloneflags, stdio, cfgFD, statFD, console, told, s.started)
			stack.Free()
		}
		cloned <- err
		<-read // told is read no more
		told.Free()
	}()
	// The kernel sets it as it clones, a moment after the thread starts.
	for i := 0; ; i++ {
		if pid := told.Pid(); pid != 0 {
			return pid, nil
		}
		select {
		case err := <-cloned:
			if pid := told.Pid(); pid != 0 { // cloned, and exited already
				return pid, nil
			}
			if err == nil {
				err = errors.New("no plan init")
			}
			return 0, err
		default:
		}
		if i < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// ownerReader reads the config pipe while the owner lives. The shim holds
// that pipe's write end too (GoFD), so the owner's death before it sent
// everything would never show there as EOF; it shows on the status pipe,
// whose write end is ours and which has no reader left then (POLLERR).
type ownerReader struct{ cfg, status *os.File }

func (r ownerReader) Read(p []byte) (int, error) {
	fds := []unix.PollFd{{Fd: int32(r.cfg.Fd()), Events: unix.POLLIN}, {Fd: int32(r.status.Fd())}}
	for {
		_, err := unix.Poll(fds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if fds[0].Revents != 0 {
			return r.cfg.Read(p)
		}
		if fds[1].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
			return 0, io.EOF
		}
	}
}
