package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/hullbox/hull"
)

// Exit statuses, as docker uses them.
const (
	exitFailure = 1   // the command failed
	exitUsage   = 125 // hull was called wrongly: bad flag, arity, command
)

func main() {
	// Most commands live for milliseconds and allocate a few MB (ps -a
	// of 1,000 containers: five collections at the default 100%):
	// collect at 400% growth instead.
	debug.SetGCPercent(400)
	ctx, cancel := context.WithCancelCause(context.Background())
	e := &env{
		stdin:     os.Stdin,
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		stdinTTY:  isTerminal(os.Stdin),
		stdoutTTY: isTerminal(os.Stdout),
		stderrTTY: isTerminal(os.Stderr) && os.Getenv("TERM") != "dumb",
		onCommand: func() { cancelOnSignal(cancel) },
	}
	code := run(ctx, e, os.Args[1:])
	var sig signalled
	if code != 0 && !e.containerExit && errors.As(context.Cause(ctx), &sig) {
		// A container's own status is kept, even when a signal
		// (forwarded to it) ended it.
		code = 128 + int(sig.sig)
	}
	os.Exit(code)
}

// signalled is the cause of the context's cancellation by a signal.
type signalled struct{ sig syscall.Signal }

func (s signalled) Error() string { return s.sig.String() }

// cancelOnSignal makes Ctrl-C (or SIGTERM) cancel the context: a pull
// stops and cleans up. A second signal kills hull, since the handler is
// gone by then. It is only installed when a command runs: starting the
// signal-handling goroutine costs --version and --help a thread.
func cancelOnSignal(cancel context.CancelCauseFunc) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		signal.Stop(sigs)
		cancel(signalled{s.(syscall.Signal)})
	}()
}

// env is what commands run with: the standard streams and the Runtime,
// opened on first use so that help and version work without a root.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	stdinTTY       bool   // a password prompt turns echo off; load refuses to read it
	stdoutTTY      bool   // save refuses to write a tar to it
	stderrTTY      bool   // progress may redraw lines
	containerExit  bool   // the exit status is a container's (run, start -a, exec): kept as is
	onCommand      func() // if set, called before a command's action runs (unless the command is quick)

	root      string
	insecure  []string
	configDir string // docker's --config: credentials in configDir/config.json
	rt        *hull.Runtime
}

// runtime opens the Runtime on first use; run closes it.
func (e *env) runtime(ctx context.Context) (*hull.Runtime, error) {
	if e.rt != nil {
		return e.rt, nil
	}
	opts := []hull.Option{hull.WithRoot(e.root)}
	if len(e.insecure) > 0 {
		opts = append(opts, hull.WithInsecureRegistry(e.insecure...))
	}
	if e.configDir != "" {
		opts = append(opts, hull.WithDockerConfig(filepath.Join(e.configDir, "config.json")))
	}
	rt, err := hull.Open(ctx, opts...)
	if err != nil {
		return nil, err
	}
	e.rt = rt
	return rt, nil
}

type globals struct {
	root     string
	insecure []string
	config   string
	help     bool
	version  bool
}

func globalFlags(g *globals) *flags {
	fs := newFlags("hull")
	fs.String(&g.root, "", "root", "DIR", "State directory (default $HULL_ROOT, else "+hull.DefaultRoot+")")
	fs.Strings(&g.insecure, "", "insecure-registry", "HOST", "Talk plain HTTP to this registry (repeatable)")
	fs.String(&g.config, "", "config", "DIR", "Location of client config files, DIR/config.json (default $DOCKER_CONFIG, else ~/.docker)")
	fs.Bool(&g.help, "h", "help", "Print usage")
	fs.Bool(&g.version, "v", "version", "Print version information and quit")
	return fs
}

// run runs hull with args (without the program name) and returns the exit
// status. Errors are reported on e.stderr.
func run(ctx context.Context, e *env, args []string) int {
	var g globals
	fs := globalFlags(&g)
	// Global flags stop at the command name: the command parses the rest.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printTable(e.stdout, "hull", commands())
			return 0
		}
		return report(e, &usageError{err: err, path: "hull"})
	}
	switch {
	case g.help:
		printTable(e.stdout, "hull", commands())
		return 0
	case g.version:
		fmt.Fprintf(e.stdout, "hull version %s\n", hull.Version)
		return 0
	}
	e.root, e.insecure, e.configDir = g.root, g.insecure, g.config
	if e.root == "" {
		e.root = os.Getenv("HULL_ROOT")
	}
	if e.root == "" {
		e.root = hull.DefaultRoot
	}
	err := dispatch(ctx, e, "hull", commands(), fs.Args())
	if e.rt != nil {
		err = errors.Join(err, e.rt.Close())
	}
	return report(e, err)
}

// report prints err the way docker does and returns the exit status.
func report(e *env, err error) int {
	var ue *usageError
	var xe *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &xe):
		return xe.code
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "hull: %v\nSee '%s --help'.\n", err, ue.path)
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "hull: %v\n", err)
	return exitFailure
}
