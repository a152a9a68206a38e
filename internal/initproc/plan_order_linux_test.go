package initproc

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestPlanOrder pins the order of the security steps of compilePlan,
// which both inits execute: a step dropped or moved there would change
// both executors alike and pass their comparison. For root and a user,
// with and without no_new_privs: the bounding set before the user
// change, the capabilities after it; the read-only and masked paths
// after pivot_root; seccomp last (right after no_new_privs) when
// no_new_privs is on, before the user change when it is off; exec last.
func TestPlanOrder(t *testing.T) {
	for _, nnp := range []bool{true, false} {
		for _, uid := range []uint32{0, 1000} {
			spec := &specs.Spec{
				Process: &specs.Process{
					Args: []string{"true"}, Cwd: "/", NoNewPrivileges: nnp,
					User: specs.User{UID: uid, GID: uid},
					Capabilities: &specs.LinuxCapabilities{
						Bounding: []string{"CAP_CHOWN"}, Effective: []string{"CAP_CHOWN"}, Permitted: []string{"CAP_CHOWN"},
					},
				},
				Root: &specs.Root{Path: "/rootfs"},
				Linux: &specs.Linux{
					ReadonlyPaths: []string{"/proc/sys"}, MaskedPaths: []string{"/proc/kcore"},
					Seccomp: &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
						{Names: []string{"kexec_load"}, Action: specs.ActErrno},
					}},
				},
			}
			cfg := &Config{Spec: spec, LowerRoot: "/", Lowers: []string{"l"}, Upper: "/u", Work: "/w"}
			p, err := compilePlan(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ops := planSteps(t, p.b)
			at := func(op uint32) int {
				i := slices.Index(ops, op)
				if i < 0 {
					t.Fatalf("nnp %v uid %d: no %s step in %v", nnp, uid, planOps[op].name, names(ops))
				}
				return i
			}
			before := func(a, b uint32) {
				if at(a) >= at(b) {
					t.Errorf("nnp %v uid %d: %s after %s in %v", nnp, uid, planOps[a].name, planOps[b].name, names(ops))
				}
			}
			before(opPivot, opReadonly)
			before(opPivot, opMask)
			before(opReadonly, opUser)
			before(opMask, opUser)
			before(opCapBSet, opUser)
			before(opUser, opCaps)
			before(opCaps, opReady)
			if uid != 0 {
				before(opKeepCaps, opUser)
			}
			if nnp {
				before(opReady, opNoNewPrivs)
				if at(opSeccomp) != at(opNoNewPrivs)+1 || at(opSeccomp) != len(ops)-2 {
					t.Errorf("nnp uid %d: seccomp is not right after no_new_privs, before exec: %v", uid, names(ops))
				}
			} else {
				before(opSeccomp, opUser)
				if slices.Contains(ops, opNoNewPrivs) {
					t.Errorf("no_new_privs off, but the plan sets it: %v", names(ops))
				}
			}
			if ops[len(ops)-1] != opExec {
				t.Errorf("nnp %v uid %d: the last step is not exec: %v", nnp, uid, names(ops))
			}
		}
	}
}

// TestExecPlanOrder pins the order of an exec's plan (CompileExec): the
// init's namespaces joined first, all at once through its pidfd, the pid
// namespace among them (for the fork's child); the credentials taken, the
// terminal made, the working directory entered, no_new_privs and seccomp
// loaded before the fork, outside the container's pid namespace (the
// child is never seen there without its filter); after it, in the child,
// only the session and the exec.
func TestExecPlanOrder(t *testing.T) {
	for _, nnp := range []bool{true, false} {
		for _, tty := range []bool{true, false} {
			spec := &specs.Spec{
				Process: &specs.Process{
					Args: []string{"true"}, Cwd: "/", NoNewPrivileges: nnp, Terminal: tty,
					User:         specs.User{UID: 1000, GID: 1000},
					Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN"}, Permitted: []string{"CAP_CHOWN"}},
				},
				Linux: &specs.Linux{Seccomp: &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
					{Names: []string{"kexec_load"}, Action: specs.ActErrno},
				}}},
			}
			b, err := CompileExec(&Config{Spec: spec}, 42)
			if err != nil {
				t.Fatal(err)
			}
			ops := planSteps(t, b)
			what := names(ops)
			fork := slices.Index(ops, opFork)
			if fork < 0 || slices.Index(ops[fork+1:], opFork) >= 0 {
				t.Fatalf("nnp %v tty %v: not one fork in %v", nnp, tty, what)
			}
			after := map[uint32]bool{opExec: true, opCtty: true, opSetsid: true}
			for i, op := range ops {
				if op != opFork && (i > fork) != after[op] {
					t.Errorf("nnp %v tty %v: %s on the wrong side of the fork in %v", nnp, tty, planOps[op].name, what)
				}
			}
			steps, _ := decodePlan(b)
			var first *step
			for i := range steps {
				if steps[i].op != opStage && steps[i].op != opTrace {
					first = &steps[i]
					break
				}
			}
			if first == nil || first.op != opSetnsFD || first.num(0)&(unix.CLONE_NEWPID|unix.CLONE_NEWNS) != unix.CLONE_NEWPID|unix.CLONE_NEWNS {
				t.Errorf("nnp %v tty %v: the init's namespaces are not joined first, with pid and mount: %v", nnp, tty, what)
			}
			if tty != slices.Contains(ops, opConsole) || (tty && slices.Index(ops, opConsole) < slices.Index(ops, opCaps)) {
				t.Errorf("nnp %v tty %v: the terminal is not made after the credentials: %v", nnp, tty, what)
			}
			if tty == slices.Contains(ops, opSetsid) || tty != slices.Contains(ops, opCtty) {
				t.Errorf("nnp %v tty %v: the session: %v", nnp, tty, what)
			}
			if ops[len(ops)-1] != opExec {
				t.Errorf("nnp %v tty %v: the last step is not exec: %v", nnp, tty, what)
			}
		}
	}
}

// planSteps is the ops of plan b, but for its stages and traces.
func planSteps(t *testing.T, b []byte) []uint32 {
	t.Helper()
	steps, err := decodePlan(b)
	if err != nil {
		t.Fatal(err)
	}
	var ops []uint32
	for _, s := range steps {
		if s.op != opStage && s.op != opTrace {
			ops = append(ops, s.op)
		}
	}
	return ops
}

func names(ops []uint32) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = planOps[op].name
	}
	return out
}
