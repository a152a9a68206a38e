package initproc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
)

// A Detached container's shim clones a plan init as an owner does (Spawn,
// plan.c) when its owner compiled the config into a plan (ShimArgs.Plan):
// no Go program starts inside the container's namespaces, and the shim's
// own start-up is the only Go start-up on the way to the command's exec.
// The init reports to the owner directly, who words its failures with
// its own copy of the plan (Word).

// WritePlan sends a shim the plan (Compile's) after the config,
// length-prefixed.
func WritePlan(w io.Writer, plan []byte) error {
	buf := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(plan)), uint32(len(plan)))
	_, err := w.Write(append(buf, plan...))
	return err
}

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

// startPlan reads the config and the plan, clones the plan init as our
// child with the container's namespaces and passes the owner's go-ahead
// on (its cgroup is the owner's to move it into on v2, its own to join on
// v1). The init reports to the owner directly, its pid first; we learn
// the pid from the kernel (SpawnTold). On failure, s is nil and code the
// shim's exit code.
func startPlan(args ShimArgs, cfgR, status *os.File) (s *shim, cfg *Config, code int) {
	cfg, err := readConfig(cfgR)
	var plan []byte
	if err == nil {
		plan, err = readPlan(cfgR)
	}
	if err != nil {
		return nil, nil, report(status, fail("shim", err))
	}
	s = &shim{}
	pid, err := s.spawnPlan(args, plan, status)
	if err != nil {
		return nil, nil, report(status, fail("shim", err))
	}
	// The init's from now on: EOF for our parent when it execs.
	status.Close()
	if s.proc, err = os.FindProcess(pid); err != nil {
		return nil, nil, 125 // gone: our parent learns it from the pipe
	}
	var b [1]byte
	_, err = io.ReadFull(cfgR, b[:])
	if err == nil {
		_, err = s.cfgW.Write(b[:])
	}
	if err != nil {
		_ = s.proc.Kill() // our parent failed: it removes the rest
		_, _ = s.proc.Wait()
		return nil, nil, 125
	}
	return s, cfg, 0
}

// spawnPlan clones the plan init (SpawnTold) on a thread of its own,
// which waits until the init execs or exits, and returns its pid once
// the kernel has set it.
func (s *shim) spawnPlan(args ShimArgs, plan []byte, status *os.File) (pid int, err error) {
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer cfgR.Close()
	s.cfgW = cfgW
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
	cloned, read := make(chan error, 1), make(chan struct{})
	defer close(read)
	cfgFD, statFD := int(cfgR.Fd()), int(status.Fd())
	go func() {
		// Never unlocked: the thread ends with the goroutine, once the
		// init has exec'd (no pdeathsig: a Detached init outlives us).
		runtime.LockOSThread()
		stack, err := NewSpawnStack()
		if err == nil {
			err = SpawnTold(stack, plan, args.Cloneflags, stdio, cfgFD, statFD, console, told)
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
