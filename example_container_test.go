package hull_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"syscall"
	"time"

	"github.com/hullbox/hull"
)

// Run pulls the image if it is missing, creates the container and starts
// it. The container belongs to this process: it is killed if the process
// dies, and Close stops what is still running.
func ExampleRuntime_Run() {
	ctx := context.Background()
	root, done := exampleRoot() // a fresh state root holding the image "busybox"
	defer done()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	c, err := rt.Run(ctx, "busybox",
		hull.WithName("hello"),
		hull.WithHostname("box"),
		hull.WithEnv("GREETING=hello"),
		hull.WithMemory(64<<20),
		hull.WithCmd("sh", "-c", `echo "$GREETING from $(hostname)"`),
		hull.WithStdout(os.Stdout))
	if err != nil {
		log.Fatal(err)
	}
	st, err := c.Wait(ctx) // the output has been copied when Wait returns
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Name(), "exited with", st.ExitCode)
	if err := c.Remove(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// hello from box
	// hello exited with 0
}

// Exec runs a command in a running container, like docker exec. Its exit
// code is in the result; err is for hull's own failures.
func ExampleContainer_Exec() {
	ctx := context.Background()
	root, done := exampleRoot()
	defer done()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	c, err := rt.Run(ctx, "busybox", hull.WithCmd("sleep", "60"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Remove(ctx, hull.WithForce())

	var out bytes.Buffer
	res, err := c.Exec(ctx, []string{"sh", "-c", "echo $((6 * 7)) in $PWD as $USER"},
		hull.WithExecStdout(&out), hull.WithExecEnv("USER=nobody"), hull.WithExecWorkdir("/tmp"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("exit %d: %s", res.ExitCode, out.String())

	res, err = c.Exec(ctx, []string{"no-such-command"})
	fmt.Println("exit", res.ExitCode, err) // Docker's 127: not found
	// Output:
	// exit 0: 42 in /tmp as nobody
	// exit 127 <nil>
}

// Logs reads what a container wrote, from its log on disk: from any
// process on the same root, while it runs or after it exited.
func ExampleContainer_Logs() {
	ctx := context.Background()
	root, done := exampleRoot()
	defer done()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	c, err := rt.Run(ctx, "busybox", hull.WithCmd("sh", "-c", "echo oops >&2; sleep 0.1; seq 1 5"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Remove(ctx)
	if _, err := c.Wait(ctx); err != nil {
		log.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	if err := c.Logs(ctx, hull.WithLogsStdout(&stdout), hull.WithLogsStderr(&stderr)); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stdout %q, stderr %q\n", stdout.String(), stderr.String())

	// The last two lines, like docker logs --tail 2.
	if err := c.Logs(ctx, hull.WithLogsStdout(os.Stdout), hull.WithLogsTail(2)); err != nil {
		log.Fatal(err)
	}
	// Output:
	// stdout "1\n2\n3\n4\n5\n", stderr "oops\n"
	// 4
	// 5
}

// Wait reports how the main process ended, with Docker's exit codes: 128
// plus the signal when one killed it.
func ExampleContainer_Wait() {
	ctx := context.Background()
	root, done := exampleRoot()
	defer done()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	c, err := rt.Run(ctx, "busybox", hull.WithCmd("sh", "-c", "exit 3"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Remove(ctx)
	st, err := c.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("exit %d, signal %d, OOM killed %v\n", st.ExitCode, st.Signal, st.OOMKilled)

	c2, err := rt.Run(ctx, "busybox", hull.WithCmd("sleep", "60"))
	if err != nil {
		log.Fatal(err)
	}
	defer c2.Remove(ctx)
	if err := c2.Kill(ctx, syscall.SIGKILL); err != nil {
		log.Fatal(err)
	}
	if st, err = c2.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("exit %d, signal %d (%v)\n", st.ExitCode, st.Signal, st.Signal)
	// Output:
	// exit 3, signal 0, OOM killed false
	// exit 137, signal 9 (killed)
}

// Stop sends the stop signal, then SIGKILL after the timeout. A command
// that is PID 1 gets only the signals it handles (sleep handles none), as
// in Docker; WithInit puts an init in front that forwards them.
func ExampleContainer_Stop() {
	ctx := context.Background()
	root, done := exampleRoot()
	defer done()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	for _, init := range []bool{false, true} {
		opts := []hull.RunOption{hull.WithCmd("sleep", "60")}
		if init {
			opts = append(opts, hull.WithInit())
		}
		c, err := rt.Run(ctx, "busybox", opts...)
		if err != nil {
			log.Fatal(err)
		}
		if err := c.Stop(ctx, time.Second); err != nil {
			log.Fatal(err)
		}
		st, err := c.Wait(ctx)
		if err != nil {
			log.Fatal(err)
		}
		in, err := c.Inspect(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("init %v: %s, exit %d\n", init, in.State.Status, st.ExitCode)
		if err := c.Remove(ctx); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// init false: exited, exit 137
	// init true: exited, exit 143
}

// Kill sends any signal; Docker's rule for PID 1 applies.
func ExampleContainer_Kill() {
	ctx := context.Background()
	root, done := exampleRoot()
	defer done()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	c, err := rt.Run(ctx, "busybox",
		hull.WithCmd("sh", "-c", `trap 'echo got HUP; exit 0' HUP; echo ready; while :; do sleep 0.05; done`),
		hull.WithStdout(os.Stdout))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Remove(ctx)
	for { // wait for the trap to be set
		var out bytes.Buffer
		c.Logs(ctx, hull.WithLogsStdout(&out))
		if out.Len() > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Kill(ctx, syscall.SIGHUP); err != nil {
		log.Fatal(err)
	}
	st, err := c.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exit", st.ExitCode)
	// Output:
	// ready
	// got HUP
	// exit 0
}
