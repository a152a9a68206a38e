package initproc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// step is one step of a plan, decoded: what both executors run.
type step struct {
	op   uint32
	args [][]byte // without their NUL
}

// errMalformed: a plan step lacks an argument, or one has the wrong size.
var errMalformed = errors.New("malformed plan")

// decodePlan splits a plan (Compile's format: each step is its opcode,
// its argument count, then each argument as a length and its bytes
// followed by a NUL) into steps.
func decodePlan(b []byte) ([]step, error) {
	var steps []step
	for len(b) > 0 {
		if len(b) < 8 {
			return steps, errMalformed
		}
		s := step{op: binary.LittleEndian.Uint32(b), args: make([][]byte, binary.LittleEndian.Uint32(b[4:]))}
		b = b[8:]
		for i := range s.args {
			if len(b) < 4 {
				return steps, errMalformed
			}
			n := binary.LittleEndian.Uint32(b)
			b = b[4:]
			if uint64(len(b)) < uint64(n)+1 || b[n] != 0 {
				return steps, errMalformed
			}
			s.args[i], b = b[:n], b[n+1:]
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// argPanic is what str and num panic with on a missing argument: the Go
// executor recovers it as failMalformed.
type argPanic struct{}

func (s *step) str(i int) string {
	if i >= len(s.args) {
		panic(argPanic{})
	}
	return string(s.args[i])
}

func (s *step) bytes(i int) []byte {
	if i >= len(s.args) {
		panic(argPanic{})
	}
	return s.args[i]
}

func (s *step) num(i int) uint64 {
	if i >= len(s.args) || len(s.args[i]) != 8 {
		panic(argPanic{})
	}
	return binary.LittleEndian.Uint64(s.args[i])
}

// stepFailure is how a step failed: where (one of the fail constants),
// a number that some of them need, and the error (an errno, mostly).
type stepFailure struct {
	at, n int
	err   error
}

func (f *stepFailure) Error() string { return fmt.Sprintf("plan step failed at %d: %v", f.at, f.err) }

func (f *stepFailure) Unwrap() error { return f.err }

func failAt(at, n int, err error) error { return &stepFailure{at: at, n: n, err: err} }

// nsNames names the namespaces opSetns joins.
var nsNames = map[uint64]string{
	unix.CLONE_NEWNET: "network", unix.CLONE_NEWNS: "mount", unix.CLONE_NEWPID: "pid",
	unix.CLONE_NEWIPC: "ipc", unix.CLONE_NEWUTS: "uts", unix.CLONE_NEWCGROUP: "cgroup",
}

// planWord words the failure of step i of steps, as plan.c reports it
// ({step, at, n, errno}) or the Go executor returns it: the stage last
// set, the message naming the op's object, and the exit code it stands
// for. i is -1 before the first step. err is an errno, or nil for the
// failures that have none, or (the Go executor's) another error.
func planWord(steps []step, i, at, n int, err error) (stage, msg string, code int) {
	defer func() {
		if recover() != nil { // a step that does not match what failed
			msg = fmt.Sprintf("step %d failed at %d: %v", i, at, err)
		}
	}()
	stage, code = "setup", 125
	for j := 0; j <= i && j < len(steps); j++ {
		if steps[j].op == opStage {
			stage = steps[j].str(0)
		}
	}
	e := ""
	if err != nil {
		e = err.Error()
	}
	with := func(what string) string {
		if what == "" {
			return e
		}
		if e == "" {
			return what
		}
		return what + ": " + e
	}
	switch at {
	case failMalformed:
		return stage, with("malformed plan"), code
	case failUnknownOp:
		return stage, with("unknown step in plan"), code
	case failNoExec:
		return "exec", with("plan ended without exec"), code
	case failPdeathsig:
		return stage, with("parent-death signal"), code
	case failDevNull:
		return stage, with("open /dev/null"), code
	case failPlaceFDs:
		return stage, with("place descriptors"), code
	case failListFDs:
		return stage, with("list /proc/self/fd"), code
	case failConsole:
		return stage, with(consoleCalls[n]), code // out of range: recovered above
	case failCtty:
		return stage, with(cttyCalls[n]), code
	}
	if i < 0 || i >= len(steps) {
		return stage, with(fmt.Sprintf("step %d", i)), code
	}
	s := &steps[i]
	what := ""
	switch s.op {
	case opChdir:
		what = s.str(1)
	case opMount:
		what = s.str(5)
	case opMountAt:
		what = s.str(6)
	case opRemountAt:
		what = s.str(3)
	case opBindAt:
		what = s.str(7)
	case opSymlinkAt:
		what = s.str(1) // the directory: walked
		if at == failCall {
			what = s.str(3)
		}
	case opWrite:
		what = s.str(2)
	case opReadonly, opMkdirAll:
		what = s.str(0)
	case opMask:
		what = "mask " + s.str(0)
	case opRlimit:
		what = s.str(3)
	case opMknod:
		what = s.str(1)
	case opSetns:
		what = "join " + nsNames[s.num(1)] + " namespace " + s.str(0)
	case opRemountRootRO:
		what = "remount / read-only"
	case opKeepCaps:
		what = "keepcaps"
	case opSeccomp:
		what = "seccomp: load filter"
	case opExec:
		return execWord(s, at, n, err)
	}
	switch at {
	case failProcLink:
		return stage, what + ": " + errProcLink.Error(), code
	case failRootDest:
		return stage, what + ": " + errRootDest.Error(), code
	case failRootFD:
		return stage, with(s.str(0)), code
	case failOpen:
		return stage, with("open " + s.str(0)), code
	case failOpenTree:
		return stage, with(what + ": open_tree " + s.str(2)), code
	case failMountSetattr:
		return stage, with(what + ": mount_setattr"), code
	case failMoveMount:
		return stage, with(what + ": move_mount"), code
	case failMkdir:
		return stage, with("mkdir " + s.str(0)[:n]), code
	case failDropCap:
		return stage, with("drop capability " + strconv.Itoa(n)), code
	case failSetgroups:
		return stage, with("setgroups"), code
	case failSetgid:
		return stage, with(fmt.Sprintf("setgid %d", uint32(s.num(1)))), code
	case failSetuid:
		return stage, with(fmt.Sprintf("setuid %d", uint32(s.num(0)))), code
	case failCapget:
		return stage, with("capget"), code
	case failCapset:
		return stage, with("capset"), code
	case failAmbient:
		return stage, with("raise ambient " + s.str(n)), code
	}
	return stage, with(what), code
}

// execWord words an opExec failure, with Docker's exit codes: 127 when
// the command does not exist, 126 when it cannot be run.
func execWord(s *step, at, n int, err error) (stage, msg string, code int) {
	e := ""
	if err != nil {
		e = err.Error()
	}
	name := ""
	if len(s.args) > 2 {
		name = s.str(2)
	}
	switch at {
	case failNoCommand:
		return "exec", "no command specified", 125
	case failNoFile:
		return "exec", fmt.Sprintf("exec %q: %s", name, e), 127
	case failNotInPath:
		return "exec", fmt.Sprintf("exec %q: executable file not found in $PATH: %s", name, e), 127
	case failDenied:
		return "exec", fmt.Sprintf("exec %q: %s", pathEntry(s.str(0), n, name), e), 126
	}
	code = 126
	if errors.Is(err, syscall.ENOENT) {
		code = 127
	}
	return "exec", fmt.Sprintf("exec %q: %s", name, e), code
}

// pathEntry is where lookPath looks for name in PATH's entry n.
func pathEntry(pathEnv string, n int, name string) string {
	dirs := filepath.SplitList(pathEnv)
	if n < 0 || n >= len(dirs) {
		return name
	}
	dir := dirs[n]
	if dir == "" {
		dir = "."
	}
	return filepath.Join(dir, name)
}

// Word gives a plan init's failure (plan.c reports the step, where in it
// and the errno; step 0 is before the first) the words the Go init would give it: the stage, the
// message and the exit code, from plan (Compile's). Other messages are
// returned as they are.
func Word(plan []byte, m Message) Message {
	if m.Type != "error" || m.Message != "" { // plan.c sends no words
		return m
	}
	steps, _ := decodePlan(plan)
	var err error
	if m.Errno != 0 {
		err = syscall.Errno(m.Errno)
	}
	m.Stage, m.Message, m.Code = planWord(steps, m.Step-1, m.At, m.N, err)
	return m
}

// PlanOps names the ops of plan's steps, in order (tests: which ops a
// set of containers went through).
func PlanOps(plan []byte) []string {
	steps, _ := decodePlan(plan)
	names := make([]string, len(steps))
	for i, s := range steps {
		if s.op > 0 && s.op < opCount {
			names[i] = planOps[s.op].name
		}
	}
	return names
}

// COps names every op plan.c executes: those a plan init can run.
func COps() []string {
	var names []string
	for op := 1; op < opCount; op++ {
		if !planOps[op].goOnly {
			names = append(names, planOps[op].name)
		}
	}
	return names
}
