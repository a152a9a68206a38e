package initproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/hullbox/hull/internal/netsetup"
	"github.com/hullbox/hull/internal/seccomp"
	"golang.org/x/sys/unix"
)

// The Go executor of a plan: the Go init runs the plan Compile made of
// its config, step by step, as plan.c runs it in a plan init; failures
// are worded by planWord, from the same {step, at, n, errno} plan.c
// reports. Only what plan.c cannot do is the Go init's alone: a
// volume's copy-up (a Go-only op), the reaper (WithInit) and a Detached
// container's shim, outside the plan. The exec-only ops (fork,
// setns_fd) are plan.c's alone.

// goRun is the state a Go executor needs beyond its step.
type goRun struct {
	status  io.Writer // the status pipe: opReady
	config  io.Reader // the config pipe: the start byte
	console *os.File  // opConsole's terminal, for opCtty
}

// errQuit: the parent went away or aborted before the start byte: the
// init exits 125 without a word.
var errQuit = errors.New("no start byte")

// goExecutors has an executor for every op but the C-only ones
// (TestPlanExecutors).
var goExecutors = [opCount]func(*goRun, *step) error{
	opStage:         func(*goRun, *step) error { return nil }, // planWord reads it
	opTrace:         func(_ *goRun, s *step) error { Trace(s.str(0)); return nil },
	opUnshare:       func(_ *goRun, s *step) error { return call(unix.Unshare(int(s.num(0)))) },
	opSetns:         goSetns,
	opChdir:         func(_ *goRun, s *step) error { return call(unix.Chdir(s.str(0))) },
	opMount:         goMount,
	opMountAt:       goMountAt,
	opRemountAt:     goRemountAt,
	opBindAt:        goBindAt,
	opSymlinkAt:     goSymlinkAt,
	opPivot:         func(_ *goRun, s *step) error { return call(pivotRoot(s.str(0))) },
	opWrite:         goWrite,
	opReadonly:      goReadonly,
	opMask:          goMask,
	opHostname:      func(_ *goRun, s *step) error { return call(unix.Sethostname(s.bytes(0))) },
	opLoopback:      func(*goRun, *step) error { return call(netsetup.LoopbackUp()) },
	opMkdirAll:      goMkdirAll,
	opRemountRootRO: func(*goRun, *step) error { return call(remountReadonly()) },
	opCapBSet:       goCapBSet,
	opRlimit:        goRlimit,
	opKeepCaps:      func(*goRun, *step) error { return call(unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0)) },
	opSeccomp:       goSeccomp,
	opUser:          goUser,
	opCaps:          goCaps,
	opReady:         goReady,
	opNoNewPrivs:    func(*goRun, *step) error { return call(unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) },
	opExec:          goExec,
	opMknod:         goMknod,
	opCopyUp:        goCopyUp,
	opConsole:       goConsole,
	opCtty:          goCtty,
	opSetsid: func(*goRun, *step) error {
		_, err := unix.Setsid()
		return call(err)
	},
}

// run runs steps and returns why it stopped: a *stageError worded as
// plan.c's report would be, errQuit, or nil once they all ran (which
// only a plan cut short by a compile error does: opExec does not return).
func (r *goRun) run(steps []step) error {
	for i := range steps {
		if err := r.step(&steps[i]); err != nil {
			return worded(steps, i, err)
		}
	}
	return nil
}

// runPlan runs p's steps, then returns cerr (compilePlan's error: the
// plan stopped short of what did not compile) if they all ran.
func (r *goRun) runPlan(p *plan, cerr error) error {
	steps, err := decodePlan(p.b)
	if err != nil {
		return fail("config", err)
	}
	if err := r.run(steps); err != nil {
		return err
	}
	return cerr
}

// runInitPlan is runPlan of an init's whole plan, which ends in an exec
// that does not return: if every step ran, the plan had no opExec, which
// plan.c refuses the same way (FAIL_NO_EXEC).
func (r *goRun) runInitPlan(p *plan, cerr error) error {
	if err := r.runPlan(p, cerr); err != nil {
		return err
	}
	steps, _ := decodePlan(p.b)
	return worded(steps, len(steps)-1, failAt(failNoExec, 0, unix.EINVAL))
}

// worded is step i's failure err as a *stageError in planWord's words,
// or err itself if it is not a *stepFailure.
func worded(steps []step, i int, err error) error {
	var f *stepFailure
	if !errors.As(err, &f) {
		return err
	}
	stage, msg, code := planWord(steps, i, f.at, f.n, f.err)
	return &stageError{stage: stage, code: code, err: &wordedError{msg: msg, err: f.err}}
}

func (r *goRun) step(s *step) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(argPanic); !ok {
				panic(p)
			}
			err = failAt(failMalformed, 0, unix.EINVAL)
		}
	}()
	if s.op == 0 || s.op >= opCount || goExecutors[s.op] == nil {
		return failAt(failUnknownOp, 0, unix.EINVAL)
	}
	return goExecutors[s.op](r, s)
}

// wordedError is planWord's message for an error, which it wraps (the
// parent reports its errno).
type wordedError struct {
	msg string
	err error
}

func (e *wordedError) Error() string { return e.msg }
func (e *wordedError) Unwrap() error { return e.err }

// errnoOf is err's errno, if it has one: the words plan.c has for it
// (not the host paths of an *os.PathError, say); else err.
func errnoOf(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// call is a step's own system call's failure (failCall), if err.
func call(err error) error {
	if err == nil {
		return nil
	}
	return failAt(failCall, 0, errnoOf(err))
}

// walkFailure is the failure of resolving a destination inside the root.
func walkFailure(err error) error {
	switch {
	case errors.Is(err, errProcLink):
		return failAt(failProcLink, 0, nil)
	case errors.Is(err, errRootDest):
		return failAt(failRootDest, 0, nil)
	}
	return failAt(failWalk, 0, errnoOf(err))
}

// resolveDir resolves dest inside rootfs (secureDest) and makes it a
// directory, as plan.c's walk with LAST_DIR.
func resolveDir(rootfs, dest string) (string, error) {
	dst, err := secureDest(rootfs, dest)
	if err == nil {
		err = os.MkdirAll(dst, 0o755)
	}
	if err != nil {
		return "", walkFailure(err)
	}
	return dst, nil
}

func goSetns(_ *goRun, s *step) error {
	fd, err := unix.Open(s.str(0), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return failAt(failOpen, 0, err)
	}
	defer unix.Close(fd)
	return call(unix.Setns(fd, int(s.num(1))))
}

func goMount(_ *goRun, s *step) error {
	return call(unix.Mount(s.str(0), s.str(1), s.str(2), uintptr(s.num(3)), s.str(4)))
}

func goMountAt(_ *goRun, s *step) error {
	dst, err := resolveDir(s.str(0), s.str(1))
	if err != nil {
		return err
	}
	return call(unix.Mount(s.str(2), dst, s.str(3), uintptr(s.num(4)), s.str(5)))
}

func goRemountAt(_ *goRun, s *step) error {
	dst, err := securejoin.SecureJoinVFS(s.str(0), s.str(1), noProcLinks{})
	if err != nil {
		return walkFailure(err)
	}
	return call(unix.Mount("", dst, "", uintptr(s.num(2)), ""))
}

// goBindAt binds source at dest inside rootfs: a file over a file (made
// if missing), a directory with bindDir (the new mount API) when the
// step says so and the kernel has it, else with mount(2); then the flags
// the bind ignores, and the propagation.
func goBindAt(_ *goRun, s *step) error {
	rootfs, dest, src := s.str(0), s.str(1), s.str(2)
	flags, prop, rec, tree := uintptr(s.num(3)), uintptr(s.num(4)), uintptr(s.num(5)), s.num(6) != 0
	fi, serr := os.Stat(src)
	if serr == nil && !fi.IsDir() {
		dst, err := bindFile(rootfs, src, dest)
		if err != nil {
			return err
		}
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC | prop); rest != 0 {
			if err := unix.Mount("", dst, "", rest|unix.MS_BIND|unix.MS_REMOUNT, ""); err != nil {
				return call(err)
			}
		}
		if prop != 0 {
			return call(unix.Mount("", dst, "", prop, ""))
		}
		return nil
	}
	if tree && serr == nil {
		if done, err := bindDir(rootfs, dest, src, flags|prop); done {
			return err
		}
	}
	dst, err := resolveDir(rootfs, dest)
	if err != nil {
		return err
	}
	if err := unix.Mount(src, dst, "", flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
		return call(err)
	}
	if rest := flags &^ (unix.MS_BIND | unix.MS_REC); rest != 0 {
		if err := unix.Mount("", dst, "", rest|unix.MS_BIND|unix.MS_REMOUNT, ""); err != nil {
			return call(err)
		}
	}
	if prop != 0 {
		return call(unix.Mount("", dst, "", prop|rec, ""))
	}
	return nil
}

func goSymlinkAt(_ *goRun, s *step) error {
	dir, err := securejoin.SecureJoinVFS(s.str(0), s.str(1), noProcLinks{})
	if err != nil {
		return walkFailure(err)
	}
	if err := os.Symlink(s.str(2), filepath.Join(dir, s.str(3))); err != nil && !errors.Is(err, unix.EEXIST) {
		return call(err)
	}
	return nil
}

func goWrite(_ *goRun, s *step) error {
	fd, err := unix.Open(s.str(0), unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
	if err != nil {
		return call(err)
	}
	defer unix.Close(fd)
	data := s.bytes(1)
	n, err := unix.Write(fd, data)
	if err == nil && n != len(data) {
		err = unix.EIO
	}
	return call(err)
}

func goReadonly(_ *goRun, s *step) error {
	p := s.str(0)
	if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return call(err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	return call(unix.Mount("", p, "", flags, ""))
}

func goMask(_ *goRun, s *step) error {
	p := s.str(0)
	fi, err := os.Stat(p)
	if err != nil {
		return nil
	}
	if fi.IsDir() {
		return call(unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "size=0"))
	}
	return call(unix.Mount("/dev/null", p, "", unix.MS_BIND, ""))
}

// goMkdirAll makes path and its parents, one component at a time; what
// is there must be a directory.
func goMkdirAll(_ *goRun, s *step) error {
	p := s.str(0)
	if len(p) >= unix.PathMax {
		return call(unix.ENAMETOOLONG)
	}
	for i := 1; ; i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		end := min(i, len(p))
		if err := unix.Mkdir(p[:end], 0o755); err != nil {
			var st unix.Stat_t
			if err != unix.EEXIST {
				return failAt(failMkdir, end, err)
			}
			if err := unix.Stat(p[:end], &st); err != nil {
				return failAt(failMkdir, end, err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return failAt(failMkdir, end, unix.ENOTDIR)
			}
		}
		if i >= len(p) {
			return nil
		}
	}
}

// goCapBSet drops from the bounding set every capability not in the
// mask. A root process exec'd afterwards gets exactly those as its
// permitted and effective sets; a non-root one gets none.
func goCapBSet(_ *goRun, s *step) error {
	keep := s.num(0)
	last := unix.CAP_LAST_CAP
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = n
		}
	}
	for c := 0; c <= last; c++ {
		if c < 64 && keep&(1<<c) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return failAt(failDropCap, c, err)
		}
	}
	return nil
}

func goRlimit(_ *goRun, s *step) error {
	return call(unix.Prlimit(0, int(s.num(0)), &unix.Rlimit{Cur: s.num(1), Max: s.num(2)}, nil))
}

func goSeccomp(_ *goRun, s *step) error {
	flags := s.num(0)
	s.str(1)
	prog, err := seccomp.Decode(s.args[1])
	if err != nil || len(prog) == 0 || len(prog) > unix.BPF_MAXINSNS {
		return call(unix.EINVAL)
	}
	return call(seccomp.Load(prog, uint(flags)))
}

// goUser switches to the step's user and groups (resolved by
// internal/spec from the image's /etc/passwd and /etc/group).
func goUser(_ *goRun, s *step) error {
	uid, gid := int(s.num(0)), int(s.num(1))
	s.str(2)
	g := s.args[2]
	if len(g)%4 != 0 || len(g)/4 > 65536 {
		return failAt(failSetgroups, 0, unix.EINVAL)
	}
	groups := make([]int, len(g)/4)
	for i := range groups {
		groups[i] = int(uint32(g[4*i]) | uint32(g[4*i+1])<<8 | uint32(g[4*i+2])<<16 | uint32(g[4*i+3])<<24)
	}
	// A credential change clears the parent-death signal (the owner's
	// SIGKILL when it dies): set it again after.
	var deathsig int32
	_ = unix.Prctl(unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&deathsig)), 0, 0, 0)
	if err := unix.Setgroups(groups); err != nil {
		return failAt(failSetgroups, 0, err)
	}
	if err := unix.Setresgid(gid, gid, gid); err != nil {
		return failAt(failSetgid, 0, err)
	}
	if err := unix.Setresuid(uid, uid, uid); err != nil {
		return failAt(failSetuid, 0, err)
	}
	// The credential change set the dumpable flag to the kernel's
	// suid_dumpable, which may be 2: nothing in the container may
	// ptrace this init or open its /proc files before it execs.
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	if deathsig != 0 {
		_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(deathsig), 0, 0, 0)
	}
	return nil
}

// goCaps sets this thread's effective, permitted and inheritable sets,
// each limited to the capabilities this process holds (hull may itself
// run without some: privileged means "all we hold"), and raises the
// ambient ones.
func goCaps(_ *goRun, s *step) error {
	eff, perm, inh := s.num(0), s.num(1), s.num(2)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return failAt(failCapget, 0, err)
	}
	held := uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
	eff, perm, inh = eff&held, perm&held, inh&held
	for i := range data {
		data[i] = unix.CapUserData{
			Effective: uint32(eff >> (32 * i)), Permitted: uint32(perm >> (32 * i)),
			Inheritable: uint32(inh >> (32 * i)),
		}
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return failAt(failCapset, 0, err)
	}
	_ = unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0)
	for i := 3; i+1 < len(s.args); i += 2 {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(s.num(i)), 0, 0); err != nil {
			return failAt(failAmbient, i+1, err)
		}
	}
	return nil
}

func goReady(r *goRun, _ *step) error {
	if err := sendMessage(r.status, Message{Type: "ready"}); err != nil {
		return errQuit
	}
	var b [1]byte
	if _, err := io.ReadFull(r.config, b[:]); err != nil {
		return errQuit // the parent went away or aborted: never start
	}
	return nil
}

// goExec finds the command like execvp in the container's PATH and
// execs it (failures: execWord).
func goExec(_ *goRun, s *step) error {
	pathEnv := s.str(0)
	argc := s.num(1)
	if argc == 0 || argc > uint64(len(s.args)-2) {
		return failAt(failNoCommand, 0, nil)
	}
	argv := make([]string, argc)
	for i := range argv {
		argv[i] = s.str(2 + i)
	}
	env := make([]string, 0, len(s.args)-2-int(argc))
	for i := 2 + int(argc); i < len(s.args); i++ {
		env = append(env, s.str(i))
	}
	path, err := lookPath(argv[0], pathEnv)
	if err != nil {
		return err
	}
	defaultSignals()
	return failAt(failExecve, 0, unix.Exec(path, argv, env))
}

// defaultSignals leaves the command every signal's default disposition,
// as plan.c's reset_signals does: exec resets the handlers, not the
// ignores, and the Go runtime keeps an ignored SIGHUP or SIGINT ignored
// (a Detached container's shim ignores both; so do nohup and a shell's
// background jobs). Notify installs the runtime's handler over an
// ignore (os/signal's doc), which the exec then resets; a signal that
// comes before it is dropped, as an ignored one was.
func defaultSignals() {
	c := make(chan os.Signal, 1)
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		if signal.Ignored(sig) {
			signal.Notify(c, sig)
		}
	}
}

// lookPath finds name like execvp in PATH (pathEnv), or fails as goExec.
func lookPath(name, pathEnv string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", failAt(failNoFile, 0, unix.ENOENT)
		}
		return name, nil
	}
	denied := -1
	for i, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		if fi.Mode()&0o111 != 0 {
			return p, nil
		}
		if denied < 0 {
			denied = i
		}
	}
	if denied >= 0 {
		return "", failAt(failDenied, denied, unix.EACCES)
	}
	return "", failAt(failNotInPath, 0, unix.ENOENT)
}

// goMknod makes a device node inside rootfs with mknod, as runc does
// outside user namespaces: a node of the container's own, not a bind
// mount of the host's, so there is nothing to mount now or to unmount
// when the container ends. The device rules (cgroup) say what it may be
// used for.
func goMknod(_ *goRun, s *step) error {
	rootfs, path := s.str(0), s.str(1)
	mode, dev, uid, gid := uint32(s.num(2)), s.num(3), int(s.num(4)), int(s.num(5))
	if i := strings.LastIndexByte(path, '/'); i < 0 || i == len(path)-1 {
		return call(unix.EINVAL)
	}
	target, err := secureDest(rootfs, path)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(target), 0o755)
	}
	if err != nil {
		return walkFailure(err)
	}
	if err := unix.Mknod(target, mode, int(dev)); err != nil {
		return call(err)
	}
	if err := unix.Lchown(target, uid, gid); err != nil {
		return call(err)
	}
	return call(unix.Chmod(target, mode&0o7777)) // mknod's mode went through the umask
}

// goCopyUp fills an empty volume with what the root filesystem has at
// its destination (prepareVolume).
func goCopyUp(_ *goRun, s *step) error {
	if err := prepareVolume(s.str(0), s.str(1), s.str(2)); err != nil {
		return fail("mount", fmt.Errorf("%s: %w", s.str(1), err))
	}
	return nil
}
