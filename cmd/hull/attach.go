package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hullbox/hull"
)

func attachCmd() *command {
	return &command{
		name: "attach", args: "CONTAINER", minArgs: 1, maxArgs: 1,
		short: "Attach local standard input, output, and error streams to a running container",
		setup: func(fs *flags) action {
			var noStdin bool
			sigProxy := "true"
			detachKeys := "ctrl-p,ctrl-q"
			fs.Bool(&noStdin, "", "no-stdin", "Do not attach STDIN")
			fs.String(&sigProxy, "", "sig-proxy", "bool", "Proxy all received signals to the process (default true)")
			fs.String(&detachKeys, "", "detach-keys", "string", `Override the key sequence for detaching a container (default "ctrl-p,ctrl-q")`)
			path := fs.Name()
			return func(ctx context.Context, e *env, args []string) error {
				keys, err := parseDetachKeys(detachKeys)
				if err != nil {
					return usageErrorf(path, "invalid --detach-keys %q: %v", detachKeys, err)
				}
				proxy := sigProxy != "false"
				c, err := lookupContainer(ctx, e, args[0])
				if err != nil {
					return err
				}
				return attachTo(ctx, e, c, !noStdin, proxy, keys)
			}
		},
	}
}

// attachTo attaches the terminal (or pipes) of hull to c until it exits
// or the detach keys are typed, and returns its exit status like docker
// attach.
func attachTo(ctx context.Context, e *env, c *hull.Container, withStdin, proxy bool, keys []byte) error {
	in, err := c.Inspect(ctx)
	if err != nil {
		return err
	}
	info := in.Config
	actx, detach := context.WithCancel(ctx)
	defer detach()
	opts := []hull.AttachOption{hull.WithAttachStdout(e.stdout), hull.WithAttachStderr(e.stderr)}
	var detached atomic.Bool
	restore := func() {}
	if withStdin && info.OpenStdin {
		in := e.stdin
		if len(keys) > 0 {
			in = &detachReader{r: in, keys: keys, detach: func() { detached.Store(true); detach() }}
		}
		opts = append(opts, hull.WithAttachStdin(in))
		if f, ok := e.stdin.(*os.File); ok && info.TTY && e.stdinTTY {
			if r, err := makeRaw(f); err == nil {
				restore = sync.OnceFunc(r)
				defer restore()
			}
		}
	}
	if out, ok := e.stdout.(*os.File); ok && info.TTY && e.stdoutTTY {
		resize := make(chan [2]uint16, 1)
		if rows, cols, err := termSize(out); err == nil {
			resize <- [2]uint16{rows, cols}
		}
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for {
				select {
				case <-winch:
					if rows, cols, err := termSize(out); err == nil {
						select {
						case resize <- [2]uint16{rows, cols}:
						default:
						}
					}
				case <-actx.Done():
					return
				}
			}
		}()
		opts = append(opts, hull.WithAttachResize(resize))
	}
	if proxy && !info.TTY {
		// With a terminal, Ctrl-C is a key the container's terminal
		// handles; without, hull forwards the signals it gets.
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		go func() {
			for {
				select {
				case s := <-sigs:
					if sig, ok := s.(syscall.Signal); ok {
						_ = c.Kill(context.WithoutCancel(ctx), sig) // forward even once ctx ends
					}
				case <-actx.Done():
					return
				}
			}
		}()
	}
	err = c.Attach(actx, opts...)
	if detached.Load() {
		restore() // the terminal back to normal before the message
		fmt.Fprintln(e.stderr, "read escape sequence")
		return nil
	}
	if err != nil {
		return err
	}
	st, err := c.Wait(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	return exitWith(e, st)
}

// parseDetachKeys parses docker's detach key syntax: comma-separated
// "ctrl-<c>" or single characters. "" disables detaching by keys.
func parseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	var out []byte
	for _, k := range strings.Split(s, ",") {
		switch {
		case len(k) == 1:
			out = append(out, k[0])
		case strings.HasPrefix(k, "ctrl-") && len(k) == 6:
			ch := k[5]
			switch {
			case ch >= 'a' && ch <= 'z':
				out = append(out, ch-'a'+1)
			case ch == '@' || ch >= '[' && ch <= '_':
				out = append(out, ch&0x1f)
			default:
				return nil, fmt.Errorf("unknown key %q", k)
			}
		default:
			return nil, fmt.Errorf("unknown key %q", k)
		}
	}
	return out, nil
}

// errDetached ends the input without closing the container's stdin.
var errDetached = errors.New("detached")

// detachReader passes input through until it sees the detach keys, which
// it withholds; then it calls detach and ends with errDetached (not EOF:
// the container's input stays open). Bytes of a partial match are passed
// on once the match fails.
type detachReader struct {
	r       io.Reader
	keys    []byte
	matched int
	detach  func()
	done    bool
}

func (d *detachReader) Read(p []byte) (int, error) {
	if d.done {
		return 0, errDetached
	}
	// Room for withheld bytes that a failed match gives back.
	buf := make([]byte, max(1, len(p)-len(d.keys)))
	n, err := d.r.Read(buf)
	out := p[:0]
	for _, b := range buf[:n] {
		if b == d.keys[d.matched] {
			d.matched++
			if d.matched == len(d.keys) {
				d.done = true
				d.detach()
				return len(out), errDetached
			}
			continue
		}
		out = append(out, d.keys[:d.matched]...)
		d.matched = 0
		if b == d.keys[0] {
			d.matched = 1
			continue
		}
		out = append(out, b)
	}
	return len(out), err
}
