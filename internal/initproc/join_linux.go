package initproc

import "strings"

// JoinEnv, set on a Go init started from the sealed binary, lists the
// cgroup v1 "tasks" files it joins by itself (join.c), in a C constructor
// that runs before the Go runtime starts threads: a one-thread process
// that moves itself skips the kernel's global lock that a move by its
// parent takes (see Config.JoinTasks for the plan init's way).
const JoinEnv = "_HULL_JOIN_TASKS"

// JoinEnvValue is JoinEnv's value for tasks ("" for none).
func JoinEnvValue(tasks []string) string { return strings.Join(tasks, "\n") }
