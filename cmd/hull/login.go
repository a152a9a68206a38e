package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hullbox/hull"
)

type loginOpts struct {
	user, password string
	passwordStdin  bool
}

func loginCmd() *command {
	return &command{
		name:    "login",
		args:    "[SERVER]",
		short:   "Log in to a registry",
		maxArgs: 1,
		setup: func(fs *flags) action {
			var o loginOpts
			fs.String(&o.user, "u", "username", "string", "Username")
			fs.String(&o.password, "p", "password", "string", "Password or Personal Access Token (PAT)")
			fs.Bool(&o.passwordStdin, "", "password-stdin", "Take the Password or Personal Access Token (PAT) from stdin")
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				server := ""
				if len(args) == 1 {
					server = args[0]
				}
				return login(ctx, e, path, o, server)
			}
		},
	}
}

// login asks for what the flags did not give (the user name on a line of
// stdin, the password without echo when stdin is a terminal), checks the
// credentials with the registry and stores them in docker's config.json,
// as docker login does. Refused credentials store nothing.
func login(ctx context.Context, e *env, path string, o loginOpts, server string) error {
	if o.password != "" {
		fmt.Fprintln(e.stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
		if o.passwordStdin {
			return usageErrorf(path, "--password and --password-stdin are mutually exclusive")
		}
	}
	if o.passwordStdin {
		if o.user == "" {
			return usageErrorf(path, "Must provide --username with --password-stdin")
		}
		b, err := io.ReadAll(e.stdin)
		if err != nil {
			return err
		}
		o.password = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	in := bufio.NewReader(e.stdin) // one reader: the password line may be buffered already
	if o.user == "" {
		fmt.Fprint(e.stdout, "Username: ")
		line, err := readLine(ctx, in)
		if err != nil {
			return err
		}
		if o.user = strings.TrimSpace(line); o.user == "" {
			return errors.New("Non-null Username Required")
		}
	}
	if o.password == "" {
		fmt.Fprint(e.stdout, "Password: ")
		pw, err := readPassword(ctx, e, in)
		if err != nil {
			return err
		}
		if o.password = pw; pw == "" {
			return errors.New("Password Required")
		}
	}
	rt, err := e.runtime(ctx)
	if err != nil {
		return err
	}
	if err := rt.Login(ctx, server, o.user, o.password); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "Login Succeeded")
	return nil
}

// readPassword reads a line, with the terminal's echo turned off if stdin
// is one (where hull can: Linux).
func readPassword(ctx context.Context, e *env, in *bufio.Reader) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && e.stdinTTY {
		if restore, err := echoOff(f); err == nil {
			defer func() {
				restore()
				fmt.Fprintln(e.stdout) // the Enter typed was not echoed
			}()
		}
	}
	line, err := readLine(ctx, in)
	return strings.TrimRight(line, "\r\n"), err
}

// readLine reads a line (end of input ends it too). It gives up when ctx
// is cancelled, so that Ctrl-C at a prompt restores the terminal: the read
// itself cannot be interrupted, and its goroutine is left behind as hull
// exits.
func readLine(ctx context.Context, in *bufio.Reader) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := in.ReadString('\n')
		if err == io.EOF {
			err = nil
		}
		ch <- result{line, err}
	}()
	select {
	case r := <-ch:
		return r.line, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func logoutCmd() *command {
	return &command{
		name:    "logout",
		args:    "[SERVER]",
		short:   "Log out from a registry",
		maxArgs: 1,
		setup: func(*flags) action {
			return func(ctx context.Context, e *env, args []string) error {
				server := ""
				if len(args) == 1 {
					server = args[0]
				}
				return logout(ctx, e, server)
			}
		},
	}
}

// logout removes the stored credentials of server (Docker Hub if empty).
// Not being logged in is no failure, as with docker.
func logout(ctx context.Context, e *env, server string) error {
	rt, err := e.runtime(ctx)
	if err != nil {
		return err
	}
	shown := serverHostname(server)
	err = rt.Logout(ctx, server)
	if errors.Is(err, hull.ErrNotFound) {
		fmt.Fprintf(e.stdout, "Not logged in to %s\n", shown)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Removing login credentials for %s\n", shown)
	return nil
}

// serverHostname names a login server in messages as docker logout does:
// Docker Hub's index URL when none is given, else the host part.
func serverHostname(server string) string {
	if server == "" {
		return "https://index.docker.io/v1/"
	}
	s := strings.TrimPrefix(strings.TrimPrefix(server, "http://"), "https://")
	s, _, _ = strings.Cut(s, "/")
	return s
}
