package spawn

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/hullbox/hull/internal/initproc"
	"golang.org/x/sys/unix"
)

// A warmShim is a Detached container's shim started ahead of time
// (initproc.ShimWarmMode): the exec of the sealed binary and the Go
// start-up of the program that embeds hull are most of a Detached start,
// and they are the part a Runtime can do before it is asked. So from a
// Runtime's second Detached start on, one shim waits past them; StartShim
// hands it the container's arguments and descriptors instead of starting
// one. When that container exits, the shim comes back (giveBack) and
// serves the next; if it has not come back within refillDelay (a second), another
// is started in the background.
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
	// Under the pool's mu: out while a container has it; takes counts
	// the containers it was given.
	out   bool
	takes int
}

// A shimPool is a Spawner's one warm shim: ready, being started, or
// neither.
type shimPool struct {
	mu      sync.Mutex
	changed sync.Cond // on mu: ready, filling or closed changed
	ready   *warmShim
	filling bool // a warm shim is being started
	used    bool // a Detached start has asked once
	closed  bool
}

// refillDelay is how long a taken shim has to come back (its container
// exited: giveBack) before another is started in its place: a Runtime
// that runs short Detached containers one after another reuses one shim,
// one that starts services gets a new one for the next.
const refillDelay = time.Second

// takeShim returns a warm shim of exe, or nil: then the caller starts a
// cold one. A shim being started is waited for (it is further on than a
// cold one would be).
func (s *Spawner) takeShim(exe string) *warmShim {
	p := &s.shims
	p.mu.Lock()
	defer p.mu.Unlock()
	p.changed.L = &p.mu
	for p.filling && p.ready == nil && !p.closed {
		p.changed.Wait()
	}
	if p.closed {
		return nil
	}
	if w := p.ready; w != nil {
		p.ready = nil
		if w.cmd.Path == exe {
			w.out = true
			w.takes++
			n := w.takes
			time.AfterFunc(refillDelay, func() { s.refillShim(exe, w, n) })
			return w
		}
		go w.discard()
	}
	// As for warm inits (TakeWarm): a process that starts one Detached
	// container (hull run -d) would only pay for a shim it never uses:
	// the pool starts with the second.
	if p.used {
		s.fillShimLocked(exe)
	}
	p.used = true
	return nil
}

// refillShim starts a warm shim unless one is ready or being started,
// or w has come back since its take n (it then serves the next).
func (s *Spawner) refillShim(exe string, w *warmShim, n int) {
	p := &s.shims
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.out && w.takes == n && !p.closed && p.ready == nil && !p.filling {
		s.fillShimLocked(exe)
	}
}

// fillShimLocked starts a warm shim in the background (s.shims.mu held).
func (s *Spawner) fillShimLocked(exe string) {
	p := &s.shims
	p.filling = true
	go func() {
		w, err := s.startWarmShim(exe)
		p.mu.Lock()
		p.filling = false
		if err == nil && (p.closed || p.ready != nil) {
			defer w.discard()
		} else if err == nil {
			p.ready = w
		}
		p.changed.Broadcast()
		p.mu.Unlock()
	}()
}

// giveBack makes w, whose container has exited, the ready shim, or lets
// it go.
func (s *Spawner) giveBack(w *warmShim) {
	p := &s.shims
	p.mu.Lock()
	w.out = false
	if !p.closed && p.ready == nil {
		p.ready = w
		p.changed.L = &p.mu
		p.changed.Broadcast()
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	w.discard()
}

func (s *Spawner) startWarmShim(exe string) (*warmShim, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ctl, child := os.NewFile(uintptr(fds[0]), "warm-shim"), os.NewFile(uintptr(fds[1]), "warm-shim-child")
	cmd := &exec.Cmd{
		Path:        exe,
		Args:        []string{"hull-shim", initproc.ShimIDPlaceholder},
		Env:         append([]string{initproc.Env + "=" + initproc.ShimWarmMode}, traceEnv()...),
		ExtraFiles:  []*os.File{child}, // initproc.ShimWarmFD
		SysProcAttr: &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL},
	}
	cmd, err = s.Start(cmd)
	// Only the shim holds its end now: if it dies before it is ready,
	// the read below ends.
	child.Close()
	if err != nil {
		ctl.Close()
		return nil, err
	}
	w := &warmShim{cmd: cmd, ctl: ctl}
	// One that never gets ready (an initializer of the embedding
	// program that blocks) is killed: Detached starts wait for a shim
	// being started (takeShim), and Close for it too.
	limit := time.AfterFunc(warmShimReadyLimit, func() { _ = cmd.Process.Kill() })
	var b [1]byte
	_, err = io.ReadFull(ctl, b[:])
	limit.Stop()
	if err != nil {
		w.discard()
		return nil, fmt.Errorf("warm shim not ready: %w", err)
	}
	return w, nil
}

// warmShimReadyLimit is how long a warm shim may take to start; a cold
// one is started instead then.
var warmShimReadyLimit = 10 * time.Second

// assign hands the shim its arguments and descriptors (in the order
// initproc.ShimWarmMode says): from then on it is that container's.
func (w *warmShim) assign(args initproc.ShimArgs, cfgR, statW, log, goW, cgroupDir *os.File) error {
	fds := []int{int(cfgR.Fd()), int(statW.Fd()), int(log.Fd())}
	if goW != nil {
		fds = append(fds, int(goW.Fd()))
		args.GoFD = -1 // not 0: the shim's number replaces it
	}
	if cgroupDir != nil {
		fds = append(fds, int(cgroupDir.Fd()))
		args.CgroupFD = -1
	}
	data, err := json.Marshal(args)
	if err != nil {
		return err
	}
	initproc.Trace("P warm shim assigned")
	return unix.Sendmsg(int(w.ctl.Fd()), data, unix.UnixRights(fds...), nil, 0)
}

// exited waits until the shim's container has exited and returns the
// shim's exit code for it; ok false if the shim exits instead (reap it).
func (w *warmShim) exited() (code int, ok bool) {
	var b [8]byte
	n, err := w.ctl.Read(b[:])
	if err != nil || n != 4 {
		return 0, false
	}
	return int(binary.LittleEndian.Uint32(b[:4])), true
}

// discard kills a warm shim that will not be used and reaps it.
func (w *warmShim) discard() {
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
	w.ctl.Close()
}

// close discards the ready shim, and waits for one being started (which
// is discarded then).
func (p *shimPool) close() {
	p.mu.Lock()
	p.changed.L = &p.mu
	p.closed = true
	w := p.ready
	p.ready = nil
	for p.filling {
		p.changed.Wait()
	}
	p.mu.Unlock()
	if w != nil {
		w.discard()
	}
}
