//go:build hullcompose

package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hullbox/hull"
	"github.com/hullbox/hull/compose"
)

// hull compose [-f FILE]... [-p NAME] [--profile P] COMMAND: package
// compose on the command line, as docker compose.

// loadOrName is load, or, with -p and no compose file, the project known
// by its name only (docker compose -p NAME down works without a file).
func (cf *composeFlags) loadOrName(ctx context.Context) (*compose.Project, error) {
	p, err := cf.load(ctx)
	if errors.Is(err, hull.ErrNotFound) && cf.name != "" && len(cf.files) == 0 {
		return compose.Named(cf.name), nil
	}
	return p, err
}

func (cf *composeFlags) load(ctx context.Context) (*compose.Project, error) {
	opts := []compose.LoadOption{compose.WithFiles(cf.files...), compose.WithProfiles(cf.profiles...),
		compose.WithEnvFiles(cf.envFiles...), compose.WithWorkingDir(cf.dir)}
	if cf.name != "" {
		opts = append(opts, compose.WithProjectName(cf.name))
	}
	return compose.Load(ctx, opts...)
}

func composeCmd() *command {
	return &command{
		name: "compose", args: "COMMAND", maxArgs: -1,
		short: "Define and run multi-container applications",
		setup: func(fs *flags) action {
			cf := &composeFlags{}
			cf.register(fs)
			return func(ctx context.Context, e *env, args []string) error {
				if len(args) > 0 && isHelpFlag(args[0]) {
					args = nil
				}
				return dispatch(ctx, e, "hull compose", composeCommands(cf), args)
			}
		},
	}
}

func composeCommands(cf *composeFlags) []*command {
	return []*command{
		composeUpCmd(cf), composeDownCmd(cf), composePsCmd(cf), composeLogsCmd(cf),
		composeSimpleCmd(cf, "stop", "Stop services"), composeSimpleCmd(cf, "start", "Start services"),
		composeSimpleCmd(cf, "restart", "Restart service containers"),
		composeSimpleCmd(cf, "build", "Build or rebuild services"), composeSimpleCmd(cf, "pull", "Pull service images"),
		composeExecCmd(cf), composeRunCmd(cf), composeConfigCmd(cf),
	}
}

// composeProject loads the project and opens the runtime.
func composeProject(ctx context.Context, e *env, cf *composeFlags) (*compose.Project, *hull.Runtime, error) {
	p, err := cf.loadOrName(ctx)
	if err != nil {
		return nil, nil, err
	}
	rt, err := e.runtime(ctx)
	if err != nil {
		return nil, nil, err
	}
	return p, rt, nil
}

func composeUpCmd(cf *composeFlags) *command {
	return &command{
		name: "up", args: "[SERVICE...]", maxArgs: -1,
		short: "Create and start containers",
		setup: func(fs *flags) action {
			var detach, build, force, wait, orphans bool
			var scales []string
			var timeout string
			fs.Bool(&detach, "d", "detach", "Detached mode: run containers in the background")
			fs.Bool(&build, "", "build", "Build images before starting containers")
			fs.Bool(&force, "", "force-recreate", "Recreate containers even if their configuration hasn't changed")
			fs.Bool(&wait, "", "wait", "Wait for services to be running|healthy. Implies detached mode")
			fs.Bool(&orphans, "", "remove-orphans", "Remove containers for services not defined in the Compose file")
			fs.Strings(&scales, "", "scale", "SERVICE=NUM", "Scale SERVICE to NUM instances")
			fs.String(&timeout, "t", "timeout", "int", "Shutdown timeout in seconds (default: each service's stop_grace_period, else 10)")
			return func(ctx context.Context, e *env, args []string) error {
				opts := []compose.Option{compose.WithStatus(e.stderr)}
				if len(args) > 0 {
					opts = append(opts, compose.WithServices(args...))
				}
				if detach || wait {
					opts = append(opts, compose.WithDetached())
				}
				if build {
					opts = append(opts, compose.WithBuild())
				}
				if force {
					opts = append(opts, compose.WithForceRecreate())
				}
				if wait {
					opts = append(opts, compose.WithWait())
				}
				if orphans {
					opts = append(opts, compose.WithRemoveOrphans())
				}
				to, err := timeoutOption(timeout)
				if err != nil {
					return err
				}
				opts = append(opts, to...)
				for _, s := range scales {
					svc, n, ok := strings.Cut(s, "=")
					num, err := strconv.Atoi(n)
					if !ok || err != nil {
						return usageErrorf("hull compose up", "--scale %q: want SERVICE=NUM", s)
					}
					opts = append(opts, compose.WithScale(svc, num))
				}
				p, err := cf.load(ctx)
				if err != nil {
					return err
				}
				if err := p.Check(); err != nil {
					return err // before the root is even opened
				}
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				if err := p.Up(ctx, rt, opts...); err != nil {
					return err
				}
				if detach || wait {
					return nil
				}
				// Attached: stream the logs until every container ends or
				// Ctrl-C, then take the project down (volumes kept). The
				// containers belong to this process, which removes them
				// anyway when it exits (unlike Docker's, which stay
				// stopped): -d keeps them.
				var lo []compose.Option
				if len(args) > 0 {
					lo = append(lo, compose.WithServices(args...))
				}
				logErr := p.Logs(ctx, rt, e.stdout, append(lo, compose.WithFollow())...)
				if ctx.Err() != nil {
					fmt.Fprintln(e.stderr, "Gracefully stopping... (press Ctrl+C again to force)")
					logErr = nil
				}
				do := []compose.Option{compose.WithStatus(e.stderr)}
				do = append(do, to...)
				return errors.Join(logErr, p.Down(context.WithoutCancel(ctx), rt, do...))
			}
		},
	}
}

func composeDownCmd(cf *composeFlags) *command {
	return &command{
		name:  "down",
		short: "Stop and remove containers, networks",
		setup: func(fs *flags) action {
			var volumes, orphans bool
			var rmi string
			var timeout string
			fs.Bool(&volumes, "v", "volumes", "Remove named volumes declared in the volumes section and anonymous volumes")
			fs.Bool(&orphans, "", "remove-orphans", "Remove containers for services not defined in the Compose file")
			fs.String(&rmi, "", "rmi", "local|all", "Remove images used by services")
			fs.String(&timeout, "t", "timeout", "int", "Shutdown timeout in seconds (default: each service's stop_grace_period, else 10)")
			return func(ctx context.Context, e *env, args []string) error {
				opts := []compose.Option{compose.WithStatus(e.stderr)}
				if volumes {
					opts = append(opts, compose.WithRemoveVolumes())
				}
				if orphans {
					opts = append(opts, compose.WithRemoveOrphans())
				}
				if rmi != "" {
					opts = append(opts, compose.WithRemoveImages(rmi))
				}
				to, err := timeoutOption(timeout)
				if err != nil {
					return err
				}
				opts = append(opts, to...)
				p, rt, err := composeProject(ctx, e, cf)
				if err != nil {
					return err
				}
				return p.Down(ctx, rt, opts...)
			}
		},
	}
}

func composePsCmd(cf *composeFlags) *command {
	return &command{
		name: "ps", args: "[SERVICE...]", maxArgs: -1,
		short: "List containers",
		setup: func(fs *flags) action {
			var quiet bool
			fs.Bool(&quiet, "q", "quiet", "Only display IDs")
			return func(ctx context.Context, e *env, args []string) error {
				p, rt, err := composeProject(ctx, e, cf)
				if err != nil {
					return err
				}
				var opts []compose.Option
				if len(args) > 0 {
					opts = append(opts, compose.WithServices(args...))
				}
				cs, err := p.Ps(ctx, rt, opts...)
				if err != nil {
					return err
				}
				if quiet {
					for _, c := range cs {
						fmt.Fprintln(e.stdout, c.Container.ID())
					}
					return nil
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 0, 3, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSERVICE\tSTATUS\tPORTS")
				for _, c := range cs {
					status := string(c.Status)
					if c.Status == hull.StatusExited {
						status = fmt.Sprintf("exited (%d)", c.ExitCode)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Service, status, strings.Join(c.Ports, ", "))
				}
				return tw.Flush()
			}
		},
	}
}

func composeLogsCmd(cf *composeFlags) *command {
	return &command{
		name: "logs", args: "[SERVICE...]", maxArgs: -1,
		short: "View output from containers",
		setup: func(fs *flags) action {
			var follow bool
			tail := "all"
			fs.Bool(&follow, "f", "follow", "Follow log output")
			fs.String(&tail, "n", "tail", "string", `Number of lines to show from the end of the logs for each container or "all"`)
			return func(ctx context.Context, e *env, args []string) error {
				var opts []compose.Option
				if len(args) > 0 {
					opts = append(opts, compose.WithServices(args...))
				}
				if follow {
					opts = append(opts, compose.WithFollow())
				}
				if tail != "all" {
					n, err := strconv.Atoi(tail)
					if err != nil || n < 0 {
						return usageErrorf("hull compose logs", "--tail %q: want a number or all", tail)
					}
					opts = append(opts, compose.WithTail(n))
				}
				p, rt, err := composeProject(ctx, e, cf)
				if err != nil {
					return err
				}
				err = p.Logs(ctx, rt, e.stdout, opts...)
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		},
	}
}

// composeSimpleCmd is stop, start, restart, build and pull: services as
// arguments, and a timeout for those that stop containers.
func composeSimpleCmd(cf *composeFlags, name, short string) *command {
	return &command{
		name: name, args: "[SERVICE...]", maxArgs: -1, short: short,
		setup: func(fs *flags) action {
			var timeout string
			if name == "stop" || name == "restart" {
				fs.String(&timeout, "t", "timeout", "int", "Shutdown timeout in seconds (default: each service's stop_grace_period, else 10)")
			}
			return func(ctx context.Context, e *env, args []string) error {
				opts := []compose.Option{compose.WithStatus(e.stderr)}
				if len(args) > 0 {
					opts = append(opts, compose.WithServices(args...))
				}
				to, err := timeoutOption(timeout)
				if err != nil {
					return err
				}
				opts = append(opts, to...)
				p, rt, err := composeProject(ctx, e, cf)
				if err != nil {
					return err
				}
				switch name {
				case "stop":
					return p.Stop(ctx, rt, opts...)
				case "start":
					return p.Start(ctx, rt, opts...)
				case "restart":
					return p.Restart(ctx, rt, opts...)
				case "build":
					return p.Build(ctx, rt, opts...)
				default:
					return p.Pull(ctx, rt, opts...)
				}
			}
		},
	}
}

func composeExecCmd(cf *composeFlags) *command {
	return &command{
		name: "exec", args: "SERVICE COMMAND [ARG...]", minArgs: 2, maxArgs: -1,
		short: "Execute a command in a running container",
		setup: func(fs *flags) action {
			var envs []string
			var user, workdir string
			var noTTY, interactive bool
			fs.Strings(&envs, "e", "env", "list", "Set environment variables")
			fs.String(&user, "u", "user", "string", "Run the command as this user")
			fs.String(&workdir, "w", "workdir", "string", "Path to workdir directory for this command")
			fs.Bool(&noTTY, "T", "no-TTY", "Disable pseudo-TTY allocation (hull never allocates one here)")
			fs.Bool(&interactive, "i", "interactive", "Keep STDIN open")
			fs.stopAtArg = true
			return func(ctx context.Context, e *env, args []string) error {
				opts := execOptions(e, interactive, envs, user, workdir)
				p, rt, err := composeProject(ctx, e, cf)
				if err != nil {
					return err
				}
				res, err := p.Exec(ctx, rt, args[0], args[1:], opts...)
				if err != nil {
					return err
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

func composeRunCmd(cf *composeFlags) *command {
	return &command{
		name: "run", args: "SERVICE [COMMAND] [ARG...]", minArgs: 1, maxArgs: -1,
		short: "Run a one-off command on a service",
		setup: func(fs *flags) action {
			var rm, detach bool
			var envs []string
			fs.Bool(&rm, "", "rm", "Automatically remove the container when it exits")
			fs.Bool(&detach, "d", "detach", "Run container in background and print container ID")
			fs.Strings(&envs, "e", "env", "list", "Set environment variables")
			fs.stopAtArg = true
			return func(ctx context.Context, e *env, args []string) error {
				var opts []hull.RunOption
				if len(envs) > 0 {
					opts = append(opts, hull.WithEnv(envs...))
				}
				if detach {
					opts = append(opts, hull.WithDetached())
				} else {
					opts = append(opts, hull.WithStdout(e.stdout), hull.WithStderr(e.stderr))
				}
				if rm {
					opts = append(opts, hull.WithAutoRemove())
				}
				p, rt, err := composeProject(ctx, e, cf)
				if err != nil {
					return err
				}
				c, err := p.Run(ctx, rt, args[0], args[1:], opts...)
				if err != nil {
					return startFailure(e, err)
				}
				if detach {
					fmt.Fprintln(e.stdout, c.ID())
					return nil
				}
				st, err := c.Wait(context.WithoutCancel(ctx))
				if err != nil {
					return err
				}
				e.containerExit = true
				if st.ExitCode != 0 {
					return &exitError{code: int(st.ExitCode)}
				}
				return nil
			}
		},
	}
}

func composeConfigCmd(cf *composeFlags) *command {
	return &command{
		name:  "config",
		short: "Parse, resolve and render the compose file in canonical format",
		setup: func(fs *flags) action {
			var format string
			var services, quiet bool
			fs.String(&format, "", "format", "yaml|json", "Format the output")
			fs.Bool(&services, "", "services", "Print the service names, one per line")
			fs.Bool(&quiet, "q", "quiet", "Only validate the configuration, don't print anything")
			return func(ctx context.Context, e *env, args []string) error {
				p, err := cf.load(ctx)
				if err != nil {
					return err
				}
				switch {
				case quiet:
					return nil
				case services:
					for _, s := range p.Services() {
						fmt.Fprintln(e.stdout, s)
					}
					return nil
				}
				var out []byte
				switch format {
				case "", "yaml":
					out, err = p.Config()
				case "json":
					out, err = p.ConfigJSON()
				default:
					return usageErrorf("hull compose config", "--format %q: want yaml or json", format)
				}
				if err != nil {
					return err
				}
				_, err = e.stdout.Write(out)
				return err
			}
		},
	}
}

// timeoutOption is -t SECONDS as a compose option (none if not given).
func timeoutOption(s string) ([]compose.Option, error) {
	if s == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return nil, usageErrorf("hull compose", "--timeout %q: want a number of seconds", s)
	}
	return []compose.Option{compose.WithTimeout(time.Duration(n) * time.Second)}, nil
}
