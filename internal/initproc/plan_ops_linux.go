package initproc

import (
	"fmt"
	"strings"
)

// The plan's operations and the points at which one can fail: defined
// here, once. plan_ops.h, which plan.c includes, is generated from these
// lists (go generate, without cgo so that a stale header cannot stop
// it; TestPlanOpsHeader fails when it is stale), and
// TestPlanExecutors that both executors (plan_exec_linux.go in Go,
// plan.c's executors table in C) have one for each.
//
//go:generate env CGO_ENABLED=0 go test -run ^TestPlanOpsHeader$ . -args -update-ops-header

// Plan steps. Arguments are strings (paths, names) or 8-byte
// little-endian integers; "what" names the object in the error message
// when the step fails, in the stage last set by opStage (planWord words
// every failure).
const (
	opStage         = iota + 1 // name: the stage of the errors that follow
	opTrace                    // phase: a HULL_TRACE line
	opUnshare                  // flags
	opSetns                    // path, nstype
	opChdir                    // path, what
	opMount                    // source, target, fstype, flags, data, what: mount(2) as is
	opMountAt                  // rootfs, dest, source, fstype, flags, data, what: on dest made a directory inside rootfs
	opRemountAt                // rootfs, dest, flags, what: mount("", dest, "", flags) inside rootfs
	opBindAt                   // rootfs, dest, source, flags, propagation, MS_REC or 0, use open_tree, what: a bind
	opSymlinkAt                // rootfs, dir, target, name: a symlink in dir inside rootfs (EEXIST is fine)
	opPivot                    // rootfs
	opWrite                    // path, data, what
	opReadonly                 // path: a read-only bind over path (absent paths skipped)
	opMask                     // path: /dev/null or an empty tmpfs over path (absent paths skipped)
	opHostname                 // name
	opLoopback                 // (none)
	opMkdirAll                 // path
	opRemountRootRO            // (none)
	opCapBSet                  // mask to keep
	opRlimit                   // resource, soft, hard, what
	opKeepCaps                 // (none)
	opSeccomp                  // flags, program (seccomp.Encode)
	opUser                     // uid, gid, groups (4 bytes each)
	opCaps                     // effective, permitted, inheritable, then each ambient capability's number and name
	opReady                    // (none): report ready, wait for the start byte
	opNoNewPrivs               // (none)
	opExec                     // PATH, argc, args..., env...
	opMknod                    // rootfs, path, mode, dev, uid, gid
	opCopyUp                   // rootfs, dest, source: a volume's copy-up (Go only)
	opConsole                  // has size, width, height: a terminal in /dev/pts, its master sent on the console socket
	opCtty                     // (none): a new session, the terminal of opConsole its controlling one and stdio
	opFork                     // (none): the rest of the plan runs in a child, in the pid namespace joined (C only)
	opSetsid                   // (none): a new session, without a controlling terminal
	opSetnsFD                  // flags, pid: join those namespaces of the process the pidfd NS_FD is of (C only)
	opCount
)

// opInfo is what both sides know of an operation.
type opInfo struct {
	name   string // C's OP_ name, in lower case
	goOnly bool   // plan.c has no executor for it: a plan with it is the Go init's
	cOnly  bool   // the Go executor has none: only an exec's plan (CompileExec) has it
}

var planOps = [opCount]opInfo{
	opStage: {name: "stage"}, opTrace: {name: "trace"}, opUnshare: {name: "unshare"},
	opSetns: {name: "setns"}, opChdir: {name: "chdir"}, opMount: {name: "mount"},
	opMountAt: {name: "mount_at"}, opRemountAt: {name: "remount_at"}, opBindAt: {name: "bind_at"},
	opSymlinkAt: {name: "symlink_at"}, opPivot: {name: "pivot"}, opWrite: {name: "write"},
	opReadonly: {name: "readonly"}, opMask: {name: "mask"}, opHostname: {name: "hostname"},
	opLoopback: {name: "loopback"}, opMkdirAll: {name: "mkdir_all"}, opRemountRootRO: {name: "remount_root_ro"},
	opCapBSet: {name: "capbset"}, opRlimit: {name: "rlimit"}, opKeepCaps: {name: "keepcaps"},
	opSeccomp: {name: "seccomp"}, opUser: {name: "user"}, opCaps: {name: "caps"},
	opReady: {name: "ready"}, opNoNewPrivs: {name: "no_new_privs"}, opExec: {name: "exec"},
	opMknod:  {name: "mknod"},
	opCopyUp: {name: "copy_up", goOnly: true}, opConsole: {name: "console"}, opCtty: {name: "ctty"},
	opFork: {name: "fork", cOnly: true}, opSetsid: {name: "setsid"}, opSetnsFD: {name: "setns_fd", cOnly: true},
}

// Where a step failed, beyond its op: an executor reports the step's
// index, one of these, a number n (said below where used) and the errno,
// and planWord words it. 0 is the op's own system call.
const (
	failCall         = iota // the op's system call: "what: errno"
	failWalk                // resolving (and making) the destination inside the root
	failProcLink            // the destination resolves through a symlink on procfs
	failRootDest            // the destination resolves to the root itself
	failRootFD              // opening the root filesystem
	failOpen                // opening the namespace file (opSetns)
	failOpenTree            // open_tree of the source (opBindAt)
	failMountSetattr        // mount_setattr of the cloned tree (opBindAt)
	failMoveMount           // move_mount onto the destination (opBindAt)
	failMkdir               // mkdir of the path's first n bytes (opMkdirAll)
	failDropCap             // dropping capability n from the bounding set (opCapBSet)
	failSetgroups           // opUser's three calls
	failSetgid
	failSetuid
	failCapget // opCaps' calls; failAmbient: raising the ambient capability of argument n
	failCapset
	failAmbient
	failNoCommand // opExec: no arguments
	failNoFile    // opExec: the command, a path, does not exist
	failNotInPath // opExec: no executable of that name in PATH
	failDenied    // opExec: PATH's entry n has it, not executable
	failExecve    // opExec: execve itself
	failMalformed // the plan itself: cut short or a wrong argument
	failUnknownOp // an op this executor does not have
	failNoExec    // the plan ended without opExec
	failPdeathsig // before the plan (step 0): the parent-death signal,
	failDevNull   // opening /dev/null for a missing stream,
	failPlaceFDs  // putting the descriptors in place,
	failListFDs   // listing /proc/self/fd to close the rest
	failConsole   // opConsole's call n (consoleCalls)
	failCtty      // opCtty's call n (cttyCalls)
	failCount
)

var failNames = [failCount]string{
	"call", "walk", "proc_link", "root_dest", "root_fd", "open", "open_tree", "mount_setattr",
	"move_mount", "mkdir", "drop_cap", "setgroups", "setgid", "setuid", "capget", "capset",
	"ambient", "no_command", "no_file", "not_in_path", "denied", "execve", "malformed",
	"unknown_op", "no_exec", "pdeathsig", "dev_null", "place_fds", "list_fds", "console", "ctty",
}

// consoleCalls and cttyCalls word failConsole's and failCtty's n: the
// calls of opConsole and opCtty, in order.
var (
	consoleCalls = []string{"open /dev/ptmx", "unlockpt", "ptsname", "set window size", "open pty slave", "send pty master"}
	cttyCalls    = []string{"setsid", "set controlling tty", "dup pty slave"}
)

// planOpsHeader is plan_ops.h's text.
func planOpsHeader() string {
	var b strings.Builder
	b.WriteString("// Code generated from plan_ops_linux.go (go generate); DO NOT EDIT.\n")
	b.WriteString("// The plan's operations and failure points: plan_ops_linux.go says what each is.\n")
	b.WriteString("#ifndef HULL_PLAN_OPS_H\n#define HULL_PLAN_OPS_H\n\nenum hull_op {\n")
	for op := 1; op < opCount; op++ {
		fmt.Fprintf(&b, "\tOP_%s = %d,\n", strings.ToUpper(planOps[op].name), op)
	}
	fmt.Fprintf(&b, "\tOP_COUNT = %d,\n};\n\nenum hull_fail {\n", opCount)
	for f := 0; f < failCount; f++ {
		fmt.Fprintf(&b, "\tFAIL_%s = %d,\n", strings.ToUpper(failNames[f]), f)
	}
	fmt.Fprintf(&b, "\tFAIL_COUNT = %d,\n};\n\n#endif\n", failCount)
	return b.String()
}
