package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hullbox/hull"
)

// The container lifecycle commands: run, create, start, ps, stop, kill,
// restart, rm, logs, exec, wait, stats, top, pause, unpause.

// runFlags are the flags run and create share.
type runFlags struct {
	detach, rm, stdin, tty bool
	name                   string
	env                    []string
	workdir, user          string
	memory, cpus, pids     string
	readOnly, init         bool
	capAdd, capDrop        []string
	entrypoint             string
	networks, netAliases   []string // network.go
	entrySet               bool
	dns                    []string
	mnt                    mountFlags // -v, --mount, --tmpfs: volume.go
	publish                []string
	logOpts                []string    // --log-opt: logopts.go
	health                 healthFlags // --restart, --health-*: healthopts.go
}

func (f *runFlags) register(fs *flags, run bool) {
	if run {
		fs.Bool(&f.detach, "d", "detach", "Run container in background and print container ID")
		fs.Bool(&f.rm, "", "rm", "Automatically remove the container when it exits")
	}
	fs.Bool(&f.stdin, "i", "interactive", "Keep STDIN open even if not attached")
	fs.Bool(&f.tty, "t", "tty", "Allocate a pseudo-TTY")
	fs.String(&f.name, "", "name", "string", "Assign a name to the container")
	fs.Strings(&f.env, "e", "env", "list", "Set environment variables")
	fs.String(&f.workdir, "w", "workdir", "string", "Working directory inside the container")
	fs.String(&f.user, "u", "user", "string", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.String(&f.memory, "m", "memory", "bytes", "Memory limit")
	fs.String(&f.cpus, "", "cpus", "decimal", "Number of CPUs")
	fs.String(&f.pids, "", "pids-limit", "int", "Tune container pids limit")
	fs.Bool(&f.readOnly, "", "read-only", "Mount the container's root filesystem as read only")
	fs.Strings(&f.capAdd, "", "cap-add", "list", "Add Linux capabilities")
	fs.Strings(&f.capDrop, "", "cap-drop", "list", "Drop Linux capabilities")
	fs.Bool(&f.init, "", "init", "Run an init inside the container that forwards signals and reaps processes")
	f.mnt.register(fs)
	f.health.register(fs)
	fs.Strings(&f.dns, "", "dns", "list", "Set custom DNS servers (user-defined networks)")
	fs.Strings(&f.publish, "p", "publish", "list", "Publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/proto])")
	fs.Strings(&f.networks, "", "network", "network", "Connect a container to a network (a name, bridge, none, host or container:<name|id>)")
	fs.Strings(&f.netAliases, "", "network-alias", "list", "Add network-scoped alias for the container")
	fs.Strings(&f.logOpts, "", "log-opt", "list", "Log driver options (json-file: max-size, max-file)")
	f.entrypoint = "\x00"
	fs.String(&f.entrypoint, "", "entrypoint", "string", "Overwrite the default ENTRYPOINT of the image")
	fs.stopAtArg = true // IMAGE [COMMAND] [ARG...]: what follows IMAGE is the command's
}

// stdioOptions are -i and -t for a container hull does not stay attached
// to (create, run -d): its stdin stays open for attach.
func (f *runFlags) stdioOptions() []hull.RunOption {
	var opts []hull.RunOption
	if f.stdin {
		opts = append(opts, hull.WithOpenStdin())
	}
	if f.tty {
		opts = append(opts, hull.WithTTY())
	}
	return opts
}

// options turns the flags into RunOptions; cmd is the command after IMAGE.
func (f *runFlags) options(path string, cmd []string) ([]hull.RunOption, error) {
	var opts []hull.RunOption
	if f.name != "" {
		opts = append(opts, hull.WithName(f.name))
	}
	if len(f.env) > 0 {
		env := make([]string, 0, len(f.env))
		for _, kv := range f.env {
			if !strings.Contains(kv, "=") {
				// docker: -e KEY takes KEY from the CLI's environment.
				v, ok := os.LookupEnv(kv)
				if !ok {
					continue
				}
				kv += "=" + v
			}
			env = append(env, kv)
		}
		opts = append(opts, hull.WithEnv(env...))
	}
	if f.workdir != "" {
		opts = append(opts, hull.WithWorkdir(f.workdir))
	}
	if f.user != "" {
		opts = append(opts, hull.WithUser(f.user))
	}
	if f.memory != "" {
		n, err := parseBytes(f.memory)
		if err != nil {
			return nil, usageErrorf(path, "invalid argument %q for \"-m, --memory\" flag: %v", f.memory, err)
		}
		opts = append(opts, hull.WithMemory(n))
	}
	if f.cpus != "" {
		n, err := strconv.ParseFloat(f.cpus, 64)
		if err != nil {
			return nil, usageErrorf(path, "invalid argument %q for \"--cpus\" flag", f.cpus)
		}
		opts = append(opts, hull.WithCPUs(n))
	}
	if f.pids != "" {
		n, err := strconv.ParseInt(f.pids, 10, 64)
		if err != nil {
			return nil, usageErrorf(path, "invalid argument %q for \"--pids-limit\" flag", f.pids)
		}
		if n > 0 { // docker: 0 or -1 is unlimited
			opts = append(opts, hull.WithPidsLimit(n))
		}
	}
	if f.readOnly {
		opts = append(opts, hull.WithReadOnlyRootfs())
	}
	if len(f.capAdd) > 0 {
		opts = append(opts, hull.WithCapAdd(f.capAdd...))
	}
	if len(f.capDrop) > 0 {
		opts = append(opts, hull.WithCapDrop(f.capDrop...))
	}
	if f.init {
		opts = append(opts, hull.WithInit())
	}
	if len(f.dns) > 0 {
		opts = append(opts, hull.WithDNS(f.dns...))
	}
	mopts, err := f.mnt.options(path)
	if err != nil {
		return nil, err
	}
	opts = append(opts, mopts...)
	lopts, err := logOptions(path, f.logOpts)
	if err != nil {
		return nil, err
	}
	opts = append(opts, lopts...)
	hopts, err := f.health.options(path)
	if err != nil {
		return nil, err
	}
	opts = append(opts, hopts...)
	for _, p := range f.publish {
		opts = append(opts, hull.WithPublish(p))
	}
	if f.entrypoint != "\x00" {
		if f.entrypoint == "" {
			opts = append(opts, hull.WithEntrypoint())
		} else {
			opts = append(opts, hull.WithEntrypoint(f.entrypoint))
		}
	}
	if len(cmd) > 0 {
		opts = append(opts, hull.WithCmd(cmd...))
	}
	return opts, nil
}

// parseBytes parses "1024", "64m", "1.5g", "512k", "10b" (binary units, as
// docker's RAMInBytes).
func parseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "ib"), "b")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid size: %q", s)
	}
	return int64(f * float64(mult)), nil
}

// startFailure reports an error of run/create/start and returns the exit
// status: the StartError's code (126, 127...), else 125.
func startFailure(e *env, err error) error {
	fmt.Fprintf(e.stderr, "hull: %v\n", err)
	var se *hull.StartError
	if errors.As(err, &se) && se.ExitCode != 0 {
		return &exitError{code: se.ExitCode}
	}
	return &exitError{code: exitUsage}
}

// runtimeWithImage opens the runtime and pulls ref if it is not in the
// root, as docker run and create do. Errors are start failures (125).
func runtimeWithImage(ctx context.Context, e *env, ref string) (*hull.Runtime, error) {
	rt, err := e.runtime(ctx)
	if err != nil {
		return nil, startFailure(e, err)
	}
	_, err = rt.Image(ctx, ref)
	if errors.Is(err, hull.ErrNotFound) {
		fmt.Fprintf(e.stderr, "Unable to find image '%s' locally\n", ref)
		_, err = rt.Pull(ctx, ref)
	}
	if err != nil {
		return nil, startFailure(e, err)
	}
	return rt, nil
}

// allOptions is options plus the network flags (network.go), which
// resolve network names in the root.
func (f *runFlags) allOptions(ctx context.Context, e *env, path string, args []string) ([]hull.RunOption, error) {
	opts, err := f.options(path, args)
	if err != nil {
		return nil, err
	}
	return f.networkOptions(ctx, e, path, opts)
}

func runCmd() *command {
	return &command{
		name: "run", args: "IMAGE [COMMAND] [ARG...]", minArgs: 1, maxArgs: -1,
		short: "Create and run a new container from an image",
		setup: func(fs *flags) action {
			var f runFlags
			f.register(fs, true)
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				opts, err := f.allOptions(ctx, e, path, args[1:])
				if err != nil {
					return err
				}
				if f.detach && f.rm {
					opts = append(opts, hull.WithAutoRemove())
				}
				if f.detach {
					// -dit: a terminal and an open stdin to attach to later.
					return runDetached(ctx, e, args[0], append(opts, f.stdioOptions()...))
				}
				rt, err := runtimeWithImage(ctx, e, args[0])
				if err != nil {
					return err
				}
				// Without -d the container belongs to this process, as issue 4
				// and docker's semantics for an attached run want: killing
				// hull, even with SIGKILL, kills the container. It is
				// removed when hull exits (a difference from docker, where
				// the daemon keeps it).
				opts = append(opts, hull.WithStdout(e.stdout), hull.WithStderr(e.stderr))
				var restore func()
				if f.stdin {
					opts = append(opts, hull.WithStdin(e.stdin))
				}
				if f.tty {
					opts = append(opts, hull.WithTTY())
					if f.stdin && e.stdinTTY {
						if in, ok := e.stdin.(*os.File); ok {
							if r, err := makeRaw(in); err == nil {
								restore = r
							}
						}
					}
				}
				if restore != nil {
					defer restore()
				}
				sigs := make(chan os.Signal, 4)
				signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
				defer signal.Stop(sigs)
				started := time.Now()
				c, err := rt.Run(ctx, args[0], opts...)
				if err != nil {
					return startFailure(e, err) // Run left nothing
				}
				return attach(ctx, e, c, false, started, sigs, f.rm)
			}
		},
	}
}

// runDetached starts a Detached container and prints its ID (run -d).
func runDetached(ctx context.Context, e *env, ref string, opts []hull.RunOption) error {
	rt, err := runtimeWithImage(ctx, e, ref)
	if err != nil {
		return err
	}
	c, err := rt.Run(ctx, ref, append(opts, hull.WithDetached())...)
	if err != nil {
		return startFailure(e, err) // Run left nothing
	}
	fmt.Fprintln(e.stdout, c.ID())
	return nil
}

// attach follows c until it exits: its log when follow (else its output
// comes through its writers), signals forwarded to it. It returns the
// container's exit status; rm removes it then.
func attach(ctx context.Context, e *env, c *hull.Container, follow bool, since time.Time, sigs chan os.Signal, rm bool) error {
	wctx := context.WithoutCancel(ctx) // a signal goes to the container, not to hull
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				if sig, ok := s.(syscall.Signal); ok {
					_ = c.Kill(context.WithoutCancel(ctx), sig) // forward even once ctx ends
				}
			case <-done:
				return
			}
		}
	}()
	var wg sync.WaitGroup
	var logErr error
	if follow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			logErr = c.Logs(wctx, hull.WithLogsFollow(), hull.WithLogsSince(since.Add(-time.Second)), hull.WithLogsStdout(e.stdout), hull.WithLogsStderr(e.stderr))
		}()
	}
	st, err := c.Wait(wctx)
	wg.Wait()
	if rm {
		// As docker run --rm: its anonymous volumes go with it.
		err = errors.Join(err, c.Remove(wctx, hull.WithForce(), hull.WithRemoveVolumes()))
	}
	if err != nil {
		return startFailure(e, err)
	}
	if logErr != nil {
		fmt.Fprintf(e.stderr, "hull: %v\n", logErr)
	}
	return exitWith(e, st)
}

// exitWith makes hull exit with the container's status st, as docker run
// and attach do: its code, or 137 if it was OOM-killed with code 0.
func exitWith(e *env, st hull.ExitStatus) error {
	e.containerExit = true
	code := st.ExitCode
	if st.OOMKilled && code == 0 {
		code = 137
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func createCmd() *command {
	return &command{
		name: "create", args: "IMAGE [COMMAND] [ARG...]", minArgs: 1, maxArgs: -1,
		short: "Create a new container",
		setup: func(fs *flags) action {
			var f runFlags
			f.register(fs, false)
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				opts, err := f.allOptions(ctx, e, path, args[1:])
				if err != nil {
					return err
				}
				rt, err := runtimeWithImage(ctx, e, args[0])
				if err != nil {
					return err
				}
				c, err := rt.Create(ctx, args[0], append(append(opts, f.stdioOptions()...), hull.WithDetached())...)
				if err != nil {
					return startFailure(e, err)
				}
				// Create starts no process: the container stays created
				// ("Created" in ps) for `hull start` in any process.
				fmt.Fprintln(e.stdout, c.ID())
				return nil
			}
		},
	}
}

func startCmd() *command {
	return &command{
		name: "start", args: "CONTAINER [CONTAINER...]", minArgs: 1, maxArgs: -1,
		short: "Start one or more stopped containers",
		setup: func(fs *flags) action {
			var attachOut, interactive bool
			fs.Bool(&attachOut, "a", "attach", "Attach STDOUT/STDERR and forward signals")
			fs.Bool(&interactive, "i", "interactive", "Attach container's STDIN (output from the start on, through attach)")
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				if interactive {
					if len(args) > 1 {
						return usageErrorf(path, "you cannot start and attach multiple containers at once")
					}
					c, err := lookupContainer(ctx, e, args[0])
					if err != nil {
						return err
					}
					if err := c.Start(ctx); err != nil {
						return startFailure(e, err)
					}
					keys, _ := parseDetachKeys("ctrl-p,ctrl-q")
					return attachTo(ctx, e, c, true, true, keys) // attach.go
				}
				if attachOut {
					if len(args) > 1 {
						return usageErrorf(path, "you cannot start and attach multiple containers at once")
					}
					c, err := lookupContainer(ctx, e, args[0])
					if err != nil {
						return err
					}
					sigs := make(chan os.Signal, 4)
					signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
					defer signal.Stop(sigs)
					started := time.Now()
					if err := c.Start(ctx); err != nil {
						return startFailure(e, err)
					}
					return attach(ctx, e, c, true, started, sigs, false)
				}
				return forEachContainer(ctx, e, args, func(c *hull.Container) error { return c.Start(ctx) })
			}
		},
	}
}

// forEachContainer runs fn on each named container, printing the name as
// given on success and the error otherwise, as docker does.
func forEachContainer(ctx context.Context, e *env, names []string, fn func(*hull.Container) error) error {
	failed := false
	for _, name := range names {
		c, err := lookupContainer(ctx, e, name)
		if err == nil {
			err = fn(c)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "hull: %v\n", err)
			failed = true
			continue
		}
		fmt.Fprintln(e.stdout, name)
	}
	if failed {
		return &exitError{code: exitFailure}
	}
	return nil
}

func psCmd() *command {
	return &command{
		name: "ps", short: "List containers", quick: true,
		setup: func(fs *flags) action {
			var all, quiet, noTrunc bool
			fs.Bool(&all, "a", "all", "Show all containers (default shows just running)")
			fs.Bool(&quiet, "q", "quiet", "Only display container IDs")
			fs.Bool(&noTrunc, "", "no-trunc", "Don't truncate output")
			return func(ctx context.Context, e *env, _ []string) error {
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				var filters []hull.ContainersOption
				if all {
					filters = append(filters, hull.WithAllContainers())
				}
				ctrs, err := rt.Containers(ctx, filters...)
				if err != nil {
					return err
				}
				if quiet {
					for _, c := range ctrs {
						fmt.Fprintln(e.stdout, shortID(c.ID(), noTrunc))
					}
					return nil
				}
				now := time.Now()
				tw := newTable(e.stdout, 10, 1)
				fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tNAMES")
				var row []byte // one row at a time, without fmt: ps -a prints thousands
				for _, c := range ctrs {
					in, err := containerInspect(ctx, c)
					if errors.Is(err, hull.ErrNotFound) {
						continue // removed meanwhile
					} else if err != nil {
						return err
					}
					cmd := strings.Join(append([]string{in.Path}, in.Args...), " ")
					if !noTrunc {
						cmd = ellipsis(cmd, 20)
					}
					row = append(append(row[:0], shortID(in.ID, noTrunc)...), '\t')
					row = append(append(row, in.Config.Image...), '\t')
					row = append(strconv.AppendQuote(row, cmd), '\t')
					row = append(append(row, createdSince(in.Created, now)...), '\t')
					row = append(append(row, statusText(in.State, now)...), '\t')
					row = append(append(row, strings.TrimPrefix(in.Name, "/")...), '\n')
					if _, err := tw.Write(row); err != nil {
						return err
					}
				}
				return tw.Flush()
			}
		},
	}
}

func shortID(id string, noTrunc bool) string {
	if !noTrunc && len(id) > 12 {
		return id[:12]
	}
	return id
}

// statusText is ps's STATUS column.
func statusText(s hull.ContainerStateInfo, now time.Time) string {
	switch {
	case s.Paused:
		return "Up " + humanDuration(now.Sub(s.StartedAt)) + " (Paused)"
	case s.Running:
		return "Up " + humanDuration(now.Sub(s.StartedAt)) + healthText(s.Health)
	case s.Restarting:
		return fmt.Sprintf("Restarting (%d) %s ago", s.ExitCode, humanDuration(now.Sub(s.FinishedAt)))
	case s.Status == hull.StatusCreated:
		return "Created"
	case s.FinishedAt.IsZero():
		return "Exited (" + strconv.Itoa(s.ExitCode) + ")"
	}
	return "Exited (" + strconv.Itoa(s.ExitCode) + ") " + humanDuration(now.Sub(s.FinishedAt)) + " ago"
}

// timeoutFlag registers -t/--timeout: seconds, negative for the container's default.
func timeoutFlag(fs *flags, p *string) {
	fs.String(p, "t", "timeout", "int", "Seconds to wait before killing the container")
}

func parseTimeout(path, s string) (time.Duration, error) {
	if s == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, usageErrorf(path, "invalid argument %q for \"-t, --timeout\" flag", s)
	}
	if n < 0 {
		return -1, nil
	}
	return time.Duration(n) * time.Second, nil
}

func stopCmd() *command {
	return timedCmd("stop", "Stop one or more running containers",
		func(ctx context.Context, c *hull.Container, d time.Duration) error { return c.Stop(ctx, d) })
}

func restartCmd() *command {
	return timedCmd("restart", "Restart one or more containers",
		func(ctx context.Context, c *hull.Container, d time.Duration) error { return c.Restart(ctx, d) })
}

// timedCmd is a command over containers with docker's -t/--timeout flag
// (stop, restart).
func timedCmd(name, short string, do func(context.Context, *hull.Container, time.Duration) error) *command {
	return &command{
		name: name, args: "CONTAINER [CONTAINER...]", minArgs: 1, maxArgs: -1,
		short: short,
		setup: func(fs *flags) action {
			var t string
			timeoutFlag(fs, &t)
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				d, err := parseTimeout(path, t)
				if err != nil {
					return err
				}
				return forEachContainer(ctx, e, args, func(c *hull.Container) error { return do(ctx, c, d) })
			}
		},
	}
}

func killCmd() *command {
	return &command{
		name: "kill", args: "CONTAINER [CONTAINER...]", minArgs: 1, maxArgs: -1,
		short: "Kill one or more running containers",
		setup: func(fs *flags) action {
			sig := "KILL"
			fs.String(&sig, "s", "signal", "string", "Signal to send to the container")
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				s, ok := parseSignal(sig)
				if !ok {
					return usageErrorf(path, "invalid signal: %s", sig)
				}
				return forEachContainer(ctx, e, args, func(c *hull.Container) error { return c.Kill(ctx, s) })
			}
		},
	}
}

func rmCmd() *command {
	return &command{
		name: "rm", args: "CONTAINER [CONTAINER...]", minArgs: 1, maxArgs: -1,
		short: "Remove one or more containers",
		setup: func(fs *flags) action {
			var force bool
			fs.Bool(&force, "f", "force", "Force the removal of a running container")
			return func(ctx context.Context, e *env, args []string) error {
				var opts []hull.RemoveOption
				if force {
					opts = append(opts, hull.WithForce())
				}
				return forEachContainer(ctx, e, args, func(c *hull.Container) error { return c.Remove(ctx, opts...) })
			}
		},
	}
}

func pauseCmd() *command {
	return eachCmd("pause", "Pause all processes within one or more containers",
		func(ctx context.Context, c *hull.Container) error { return c.Pause(ctx) })
}

func unpauseCmd() *command {
	return eachCmd("unpause", "Unpause all processes within one or more containers",
		func(ctx context.Context, c *hull.Container) error { return c.Resume(ctx) })
}

// eachCmd is a flagless command applying do to every container named.
func eachCmd(name, short string, do func(context.Context, *hull.Container) error) *command {
	return &command{
		name: name, args: "CONTAINER [CONTAINER...]", minArgs: 1, maxArgs: -1,
		short: short,
		setup: func(*flags) action {
			return func(ctx context.Context, e *env, args []string) error {
				return forEachContainer(ctx, e, args, func(c *hull.Container) error { return do(ctx, c) })
			}
		},
	}
}

func waitCmd() *command {
	return &command{
		name: "wait", args: "CONTAINER [CONTAINER...]", minArgs: 1, maxArgs: -1,
		short: "Block until one or more containers stop, then print their exit codes",
		setup: func(*flags) action {
			return func(ctx context.Context, e *env, args []string) error {
				failed := false
				for _, name := range args {
					c, err := lookupContainer(ctx, e, name)
					var st hull.ExitStatus
					if err == nil {
						st, err = c.Wait(ctx)
					}
					if err != nil {
						fmt.Fprintf(e.stderr, "hull: %v\n", err)
						failed = true
						continue
					}
					fmt.Fprintln(e.stdout, st.ExitCode)
				}
				if failed {
					return &exitError{code: exitFailure}
				}
				return nil
			}
		},
	}
}

func logsCmd() *command {
	return &command{
		name: "logs", args: "CONTAINER", minArgs: 1, maxArgs: 1,
		short: "Fetch the logs of a container",
		setup: func(fs *flags) action {
			var follow bool
			tail, since := "all", ""
			fs.Bool(&follow, "f", "follow", "Follow log output")
			fs.String(&tail, "n", "tail", "string", `Number of lines to show from the end of the logs (default "all")`)
			fs.String(&since, "", "since", "string", `Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				o := []hull.LogsOption{hull.WithLogsStdout(e.stdout), hull.WithLogsStderr(e.stderr)}
				if follow {
					o = append(o, hull.WithLogsFollow())
				}
				if tail != "all" && tail != "" {
					n, err := strconv.Atoi(tail)
					if err != nil {
						return usageErrorf(path, "invalid argument %q for \"-n, --tail\" flag", tail)
					}
					o = append(o, hull.WithLogsTail(max(n, 0))) // a negative count shows nothing, as 0
				}
				if since != "" {
					t, err := parseSince(since, time.Now())
					if err != nil {
						return usageErrorf(path, "invalid value for \"since\": %v", err)
					}
					o = append(o, hull.WithLogsSince(t))
				}
				c, err := lookupContainer(ctx, e, args[0])
				if err != nil {
					return err
				}
				err = c.Logs(ctx, o...)
				if follow && ctx.Err() != nil {
					return nil
				}
				return err
			}
		},
	}
}

// parseSince parses a duration before now, an RFC 3339 time or Unix seconds.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Unix(0, int64(f*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration nor a timestamp", s)
}

// execOptions are the options of an exec's -i, -e, -u and -w flags
// (hull exec, hull compose exec), its output to e's.
func execOptions(e *env, stdin bool, envs []string, user, workdir string) []hull.ExecOption {
	opts := []hull.ExecOption{hull.WithExecStdout(e.stdout), hull.WithExecStderr(e.stderr)}
	if stdin {
		opts = append(opts, hull.WithExecStdin(e.stdin))
	}
	if len(envs) > 0 {
		opts = append(opts, hull.WithExecEnv(envs...))
	}
	if user != "" {
		opts = append(opts, hull.WithExecUser(user))
	}
	if workdir != "" {
		opts = append(opts, hull.WithExecWorkdir(workdir))
	}
	return opts
}

func execCmd() *command {
	return &command{
		name: "exec", args: "CONTAINER COMMAND [ARG...]", minArgs: 2, maxArgs: -1,
		short: "Execute a command in a running container",
		setup: func(fs *flags) action {
			var stdin, tty bool
			var envs []string
			var user, workdir string
			fs.Bool(&stdin, "i", "interactive", "Keep STDIN open even if not attached")
			fs.Bool(&tty, "t", "tty", "Allocate a pseudo-TTY")
			fs.Strings(&envs, "e", "env", "list", "Set environment variables")
			fs.String(&user, "u", "user", "string", "Username or UID (format: <name|uid>[:<group|gid>])")
			fs.String(&workdir, "w", "workdir", "string", "Working directory inside the container")
			fs.stopAtArg = true
			return func(ctx context.Context, e *env, args []string) error {
				c, err := lookupContainer(ctx, e, args[0])
				if err != nil {
					return err
				}
				opts := execOptions(e, stdin, envs, user, workdir)
				if tty {
					rows, cols := uint16(24), uint16(80)
					if out, ok := e.stdout.(*os.File); ok && e.stdoutTTY {
						if r, c, err := termSize(out); err == nil {
							rows, cols = r, c
						}
					}
					opts = append(opts, hull.WithExecTTY(rows, cols))
					if in, ok := e.stdin.(*os.File); ok && stdin && e.stdinTTY {
						if restore, err := makeRaw(in); err == nil {
							defer restore()
						}
					}
				}
				res, err := c.Exec(ctx, args[1:], opts...)
				if err != nil {
					return startFailure(e, err)
				}
				e.containerExit = true
				if res.ExitCode != 0 {
					return &exitError{code: res.ExitCode}
				}
				return nil
			}
		},
	}
}

func statsCmd() *command {
	return &command{
		name: "stats", args: "[CONTAINER...]", maxArgs: -1,
		short: "Display a live stream of containers' resource usage statistics",
		setup: func(fs *flags) action {
			var noStream, all bool
			fs.Bool(&all, "a", "all", "Show all containers (default shows just running)")
			fs.Bool(&noStream, "", "no-stream", "Disable streaming stats and only pull the first result")
			return func(ctx context.Context, e *env, args []string) error {
				var ctrs []*hull.Container
				if len(args) == 0 {
					rt, err := e.runtime(ctx)
					if err != nil {
						return err
					}
					var filters []hull.ContainersOption
					if all {
						filters = append(filters, hull.WithAllContainers())
					}
					if ctrs, err = rt.Containers(ctx, filters...); err != nil {
						return err
					}
				}
				failed := false
				for _, name := range args {
					c, err := lookupContainer(ctx, e, name)
					if err != nil {
						fmt.Fprintf(e.stderr, "hull: %v\n", err)
						failed = true
						continue
					}
					ctrs = append(ctrs, c)
				}
				if !noStream {
					if failed {
						return &exitError{code: exitFailure}
					}
					return streamStats(ctx, e.stdout, ctrs) // stats.go
				}
				tw := newTable(e.stdout, 10, 1)
				fmt.Fprintln(tw, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS")
				for _, c := range ctrs {
					s, err := c.Stats(ctx)
					if err != nil {
						if len(args) == 0 {
							// Not running any more: docker shows zeros.
							fmt.Fprintf(tw, "%s\t%s\t--\t-- / --\t--\t--\t--\t--\n", shortID(c.ID(), false), c.Name())
							continue
						}
						fmt.Fprintf(e.stderr, "hull: %v\n", err)
						failed = true
						continue
					}
					fmt.Fprintln(tw, statsRow(c, s))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if failed {
					return &exitError{code: exitFailure}
				}
				return nil
			}
		},
	}
}

// binarySize formats bytes with binary units, as docker stats's memory
// (go-units BytesSize): "1.5MiB".
func binarySize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	size, i := float64(n), 0
	for size >= 1024 && i < len(units)-1 {
		size /= 1024
		i++
	}
	return fmt.Sprintf("%.4g%s", size, units[i])
}

func topCmd() *command {
	return &command{
		name: "top", args: "CONTAINER", minArgs: 1, maxArgs: 1,
		short: "Display the running processes of a container",
		setup: func(*flags) action {
			return func(ctx context.Context, e *env, args []string) error {
				c, err := lookupContainer(ctx, e, args[0])
				if err != nil {
					return err
				}
				procs, err := c.Top(ctx)
				if err != nil {
					return err
				}
				tw := newTable(e.stdout, 10, 1)
				fmt.Fprintln(tw, "UID\tPID\tPPID\tC\tSTIME\tTTY\tTIME\tCMD")
				for _, p := range procs {
					stime := p.Started.Format("15:04")
					if time.Since(p.Started) > 24*time.Hour {
						stime = p.Started.Format("Jan02")
					}
					t := int(p.Time.Seconds())
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%02d:%02d:%02d\t%s\n", p.User, p.PID, p.PPID, p.CPU,
						stime, p.TTY, t/3600, t/60%60, t%60, p.Cmd)
				}
				return tw.Flush()
			}
		},
	}
}

// containerInspect is c.Inspect, with a container that never started shown
// as created (hull create ends the init that waits for start: see createCmd).
func containerInspect(ctx context.Context, c *hull.Container) (hull.ContainerInspect, error) {
	in, err := c.Inspect(ctx)
	if err == nil && in.State.Status == hull.StatusExited && in.State.StartedAt.IsZero() {
		in.State.Status, in.State.ExitCode, in.State.FinishedAt = hull.StatusCreated, 0, time.Time{}
	}
	return in, err
}
