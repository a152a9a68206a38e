// What hull_plan_spawn (plan.c) is given: Spawn (plan_cgo_linux.go) fills it.
#include <stddef.h>

struct hull_spawn {
	const unsigned char *plan; // Compile's steps, without their size
	size_t plan_len;
	unsigned long flags; // the CLONE_NEW* namespaces
	int fds[7];          // stdin, stdout, stderr (-1: /dev/null), config pipe, status pipe,
	                     // console socket, pidfd for opSetnsFD (-1: none)
	int pdeathsig;       // 0: none
	const char *trace;   // initproc.TraceEnv's file, or NULL
	char *stack;         // the child's until it execs
	size_t stack_size;
	char *fork_stack;    // the top of opFork's child's, below stack
	int *fork_pid;       // where opFork's child's pid goes (an exec's), or NULL
	int pid; // the child's, set by the kernel
	int *pid_out; // where the kernel sets the child's pid instead of pid, or NULL
	int *started; // set to 1 once the start byte is read (opReady), or NULL
};

int hull_plan_spawn(struct hull_spawn *s);

// hull_plan_undumpable says whether an exec's plan has run: the program's
// memory then stays non-dumpable.
int hull_plan_undumpable(void);

// hull_plan_executes says whether plan.c has an executor for op.
int hull_plan_executes(unsigned op);
