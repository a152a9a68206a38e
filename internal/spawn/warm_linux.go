package spawn

import (
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/hullbox/hull/internal/initproc"
	"golang.org/x/sys/unix"
)

// A WarmInit is a Go init started ahead of time (initproc.WarmMode): the
// clone into new namespaces, the exec of the sealed binary and the Go
// runtime's start-up are most of what such a container start costs, and a
// Runtime that starts them keeps one init that is past them, in fresh
// namespaces, waiting. (Plan inits need none: initproc.Spawn.) Create hands
// it the container's standard streams and config instead of starting one;
// the next is started in the background. Only the common case uses it:
// the default namespaces, owned (pdeathsig) and no terminal or stdin, as
// spawn would start the init for it anyway; everything else starts cold.
//
// Nothing about it is visible: it is a child of the Spawner thread like
// any init (pdeathsig SIGKILL, non-dumpable), it is in no cgroup of ours
// until adopted (then moved into the container's, before it forks or execs
// anything), and Runtime.Close kills it. The first two Creates of a
// Runtime start cold; the second starts the pool.
type WarmInit struct {
	Cmd   *exec.Cmd // the started init, to wait for
	CfgW  *os.File  // its config pipe: the config, then the start byte
	StatR *os.File  // its status pipe: the reports
	ctl   *os.File  // WarmFD's other end: readiness, then the streams
}

const warmCloneflags = unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET

// A warmPool is a Spawner's one warm init, being started or ready.
type warmPool struct {
	cold   string   // Env's value in the cold init it stands in for
	warm   string   // Env's value in its own: initproc.WarmMode
	env    []string // the rest of both environments (tracing aside)
	mu     sync.Mutex
	next   chan *WarmInit // the one being started or ready (nil if it failed); made on second use
	used   bool           // a Create has asked once
	closed bool
}

// pool returns the Spawner's pool of Go inits.
func (s *Spawner) pool() *warmPool {
	s.poolsOnce.Do(func() {
		s.warm.cold, s.warm.warm, s.warm.env = "1", initproc.WarmMode, []string{"GOMAXPROCS=1", "GOGC=off"}
	})
	return &s.warm
}

// TakeWarm returns a warm init that can stand in for cmd (built by spawn,
// not started), or nil: then the caller starts cmd. It starts the next one.
func (s *Spawner) TakeWarm(exe string, cmd *exec.Cmd) *WarmInit {
	p := s.pool()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	if p.next == nil {
		// A process that starts one container (the CLI, a one-shot
		// tool) would only pay for a warm init it never uses, while its
		// own init starts on the same cores: start the pool from the
		// second Create on.
		if !p.used {
			p.used = true
			p.mu.Unlock()
			return nil
		}
		p.next = make(chan *WarmInit, 1)
		go s.fillWarm(p, exe)
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	if !p.fits(exe, cmd) {
		return nil
	}
	w := <-p.next // a start is always under way or done: this waits for at most one
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.next <- w // for close to discard
		return nil
	}
	go s.fillWarm(p, exe)
	p.mu.Unlock()
	return w
}

// fits reports whether one of p's warm inits is what cmd would have
// started.
func (p *warmPool) fits(exe string, cmd *exec.Cmd) bool {
	a := cmd.SysProcAttr
	if cmd.Path != exe || cmd.Dir != "" || cmd.Stdin != nil || len(cmd.ExtraFiles) != 2 || a == nil ||
		a.Cloneflags != warmCloneflags || a.Pdeathsig != syscall.SIGKILL || a.Setsid || a.Setctty ||
		a.Credential != nil || a.Unshareflags != 0 || a.Foreground || a.Noctty || a.Ptrace {
		return false
	}
	var env []string
	for _, e := range cmd.Env {
		if !strings.HasPrefix(e, initproc.TraceEnv+"=") {
			env = append(env, e)
		}
	}
	return len(env) > 0 && env[0] == initproc.Env+"="+p.cold && slices.Equal(env[1:], p.env)
}

// fillWarm starts one of p's warm inits and offers it once it is ready
// (or nil).
func (s *Spawner) fillWarm(p *warmPool, exe string) {
	w, err := s.startWarm(p, exe)
	if err != nil {
		w = nil
	}
	p.next <- w
}

func (s *Spawner) startWarm(p *warmPool, exe string) (_ *WarmInit, retErr error) {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	files = append(files, cfgR, cfgW)
	statR, statW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	files = append(files, statR, statW)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ctl, child := os.NewFile(uintptr(fds[0]), "warm"), os.NewFile(uintptr(fds[1]), "warm-child")
	files = append(files, ctl, child)
	cmd := &exec.Cmd{
		Path:        exe,
		Args:        []string{"hull-init"},
		Env:         append(append([]string{initproc.Env + "=" + p.warm}, p.env...), traceEnv()...),
		ExtraFiles:  []*os.File{cfgR, statW, child}, // configFD, statusFD, WarmFD
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: warmCloneflags, Pdeathsig: syscall.SIGKILL},
	}
	cmd, err = s.Start(cmd)
	if err != nil {
		return nil, err
	}
	w := &WarmInit{Cmd: cmd, CfgW: cfgW, StatR: statR, ctl: ctl}
	files = []*os.File{cfgR, statW, child}
	var b [1]byte
	if _, err := io.ReadFull(ctl, b[:]); err != nil {
		w.Discard()
		return nil, err
	}
	return w, nil
}

// Adopt sends the warm init the streams it is to have in place of those
// of the command it stands in for (nil: /dev/null; it has no stdin), and
// lets it go on as that command: Cmd. The caller closes its copies of
// the streams once Adopt has returned.
func (w *WarmInit) Adopt(streams [3]*os.File) error {
	var mask byte
	var send []*os.File
	for i, f := range streams[1:] { // fits: no stdin
		if f != nil {
			mask |= byte(initproc.WarmStdout << i)
			send = append(send, f)
		}
	}
	fds := make([]int, len(send))
	for i, f := range send {
		fds[i] = int(f.Fd())
	}
	var rights []byte
	if len(fds) > 0 {
		rights = unix.UnixRights(fds...)
	}
	err := unix.Sendmsg(int(w.ctl.Fd()), []byte{mask}, rights, nil, 0)
	w.ctl.Close()
	initproc.Trace("P warm init adopted")
	return err
}

// traceEnv passes initproc.TraceEnv on to warm inits.
func traceEnv() []string {
	if initproc.Tracing() {
		return []string{initproc.TraceEnv + "=" + os.Getenv(initproc.TraceEnv)}
	}
	return nil
}

// Discard kills a warm init that will not be used and reaps it.
func (w *WarmInit) Discard() {
	_ = w.Cmd.Process.Kill()
	_ = w.Cmd.Wait()
	w.close()
}

func (w *WarmInit) close() {
	for _, f := range []*os.File{w.CfgW, w.StatR, w.ctl} {
		f.Close()
	}
}

// close discards the warm inits, waiting for those being started.
func (p *warmPool) close() {
	p.mu.Lock()
	p.closed = true
	next := p.next
	p.mu.Unlock()
	if next == nil {
		return
	}
	if w := <-next; w != nil {
		w.Discard()
	}
	next <- nil // for a takeWarm that was waiting too
}
