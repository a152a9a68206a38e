package spawn

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/hullbox/hull/internal/initproc"
	"golang.org/x/sys/unix"
)

// A warmShim is a Detached container's shim started ahead of time
// (initproc.ShimWarmMode): the exec of the sealed binary and the Go
// start-up of the program that embeds hull are most of a Detached start,
// and they are the part a Runtime can do before it is asked. So from a
// Runtime's second Detached start on, one shim waits past them; StartShim
// hands it the container's arguments and descriptors instead of starting
// one, and the next is started in the background.
//
// While it waits it is nothing but that: a child of the Spawner thread in
// its own session, with pdeathsig SIGKILL (it dies with the Runtime, or
// with this process, until assigned; Runtime.Close kills it), /dev/null
// for its streams and its socket to us, in our cgroup as a cold shim is
// (never the container's). Once assigned it clears its pdeathsig and has
// what a cold shim has, nothing more.
type warmShim struct {
	cmd *exec.Cmd
	ctl *os.File // initproc.ShimWarmFD's other end
}

// A shimPool is a Spawner's one warm shim, being started or ready.
type shimPool struct {
	mu     sync.Mutex
	next   chan *warmShim // the one being started or ready (nil if it failed); made on second use
	used   bool           // a Detached start has asked once
	closed bool
}

// takeShim returns a warm shim of exe, or nil: then the caller starts a
// cold one. It starts the next one.
func (s *Spawner) takeShim(exe string) *warmShim {
	p := &s.shims
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if p.next == nil {
		// As for warm inits (TakeWarm): a process that starts one
		// Detached container (hull run -d) would only pay for a shim it
		// never uses: the pool starts with the second.
		if p.used {
			p.next = make(chan *warmShim, 1)
			go s.fillShim(p, exe)
		}
		p.used = true
		return nil
	}
	var w *warmShim
	select {
	case w = <-p.next:
	default:
		return nil // still starting: a cold start is no slower than waiting for it
	}
	go s.fillShim(p, exe)
	if w != nil && w.cmd.Path != exe {
		w.discard()
		w = nil
	}
	return w
}

// fillShim starts one of p's warm shims and offers it once it is ready
// (or nil).
func (s *Spawner) fillShim(p *shimPool, exe string) {
	w, err := s.startWarmShim(exe)
	if err != nil {
		w = nil
	}
	p.next <- w
}

func (s *Spawner) startWarmShim(exe string) (*warmShim, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ctl, child := os.NewFile(uintptr(fds[0]), "warm-shim"), os.NewFile(uintptr(fds[1]), "warm-shim-child")
	defer child.Close()
	cmd := &exec.Cmd{
		Path:        exe,
		Args:        []string{"hull-shim", initproc.ShimIDPlaceholder},
		Env:         append([]string{initproc.Env + "=" + initproc.ShimWarmMode}, traceEnv()...),
		ExtraFiles:  []*os.File{child}, // initproc.ShimWarmFD
		SysProcAttr: &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL},
	}
	cmd, err = s.Start(cmd)
	if err != nil {
		ctl.Close()
		return nil, err
	}
	w := &warmShim{cmd: cmd, ctl: ctl}
	var b [1]byte
	if _, err := io.ReadFull(ctl, b[:]); err != nil {
		w.discard()
		return nil, err
	}
	return w, nil
}

// assign hands the shim its arguments and descriptors (in the order
// initproc.ShimWarmMode says): from then on it is cmd's shim.
func (w *warmShim) assign(args initproc.ShimArgs, cfgR, statW, log, cgroupDir *os.File) error {
	defer w.ctl.Close()
	fds := []int{int(cfgR.Fd()), int(statW.Fd()), int(log.Fd())}
	if cgroupDir != nil {
		fds = append(fds, int(cgroupDir.Fd()))
		args.CgroupFD = -1 // not 0: the shim's number replaces it
	}
	data, err := json.Marshal(args)
	if err != nil {
		return err
	}
	initproc.Trace("P warm shim assigned")
	return unix.Sendmsg(int(w.ctl.Fd()), data, unix.UnixRights(fds...), nil, 0)
}

// discard kills a warm shim that will not be used and reaps it.
func (w *warmShim) discard() {
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
	w.ctl.Close()
}

// close discards the warm shim, waiting for one being started.
func (p *shimPool) close() {
	p.mu.Lock()
	p.closed = true
	next := p.next
	p.mu.Unlock()
	if next == nil {
		return
	}
	if w := <-next; w != nil {
		w.discard()
	}
}
