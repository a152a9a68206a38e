package compose

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/hullbox/hull"
)

// Container is one of a project's containers, as Ps lists it.
type Container struct {
	Container *hull.Container
	Name      string
	Service   string
	Number    int  // com.docker.compose.container-number
	OneOff    bool // made by Run
	Status    hull.Status
	ExitCode  int
	// Ports are the published ports, "127.0.0.1:8080->80/tcp".
	Ports []string
}

// Ps lists the project's containers, by service and number, whatever
// their status (docker compose ps -a). Options: WithServices.
func (p *Project) Ps(ctx context.Context, rt *hull.Runtime, opts ...Option) ([]Container, error) {
	o, err := parseOptions("ps", opts, "WithServices")
	if err != nil {
		return nil, err
	}
	ms, err := p.members(ctx, rt)
	if err != nil {
		return nil, err
	}
	var out []Container
	for _, m := range ms {
		if len(o.services) > 0 && !contains(o.services, m.service) {
			continue
		}
		c := Container{Container: m.c, Name: m.c.Name(), Service: m.service, Number: m.number, OneOff: m.oneoff,
			Status: m.info.State.Status, ExitCode: m.info.State.ExitCode}
		for _, b := range m.info.NetworkSettings.Ports {
			c.Ports = append(c.Ports, fmt.Sprintf("%s->%d/%s", net.JoinHostPort(b.HostIP, strconv.Itoa(int(b.HostPort))), b.ContainerPort, b.Proto))
		}
		out = append(out, c)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Logs writes the logs of the project's containers to w as one stream,
// each line prefixed with its container's name ("app-web-1  | ..."),
// stdout and stderr alike, like docker compose logs. With WithFollow it
// returns when ctx ends or every container has stopped.
// Options: WithServices, WithFollow, WithTail.
func (p *Project) Logs(ctx context.Context, rt *hull.Runtime, w io.Writer, opts ...Option) error {
	o, err := parseOptions("logs", opts, "WithServices", "WithFollow", "WithTail")
	if err != nil {
		return err
	}
	ms, err := p.selectedMembers(ctx, rt, o)
	if err != nil {
		return err
	}
	width := 0
	for _, m := range ms {
		width = max(width, len(m.c.Name()))
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(ms))
	for i, m := range ms {
		pw := &prefixWriter{w: w, mu: &mu, prefix: fmt.Sprintf("%-*s | ", width, m.c.Name())}
		lo := []hull.LogsOption{hull.WithLogsStdout(pw), hull.WithLogsStderr(pw)}
		if o.follow {
			lo = append(lo, hull.WithLogsFollow())
		}
		if o.tail >= 0 {
			lo = append(lo, hull.WithLogsTail(o.tail))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := m.c.Logs(ctx, lo...)
			pw.flush()
			if err != nil && ctx.Err() == nil && !errors.Is(err, hull.ErrNotFound) {
				errs[i] = fmt.Errorf("logs of %s: %w", m.c.Name(), err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// prefixWriter writes whole lines, each with a prefix, to a writer
// shared (under mu) with other containers' prefixWriters.
type prefixWriter struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
	buf    []byte
	lmu    sync.Mutex
}

// Write buffers b and writes every whole line in it, prefixed.
func (pw *prefixWriter) Write(b []byte) (int, error) {
	pw.lmu.Lock()
	defer pw.lmu.Unlock()
	pw.buf = append(pw.buf, b...)
	for {
		i := bytes.IndexByte(pw.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		pw.mu.Lock()
		_, err := fmt.Fprintf(pw.w, "%s%s\n", pw.prefix, pw.buf[:i])
		pw.mu.Unlock()
		pw.buf = pw.buf[i+1:]
		if err != nil {
			return len(b), err
		}
	}
}

func (pw *prefixWriter) flush() {
	pw.lmu.Lock()
	defer pw.lmu.Unlock()
	if len(pw.buf) > 0 {
		pw.mu.Lock()
		fmt.Fprintf(pw.w, "%s%s\n", pw.prefix, pw.buf)
		pw.mu.Unlock()
		pw.buf = nil
	}
}

// Exec runs argv in the first running container of service (docker
// compose exec), with hull's exec options.
func (p *Project) Exec(ctx context.Context, rt *hull.Runtime, service string, argv []string, opts ...hull.ExecOption) (hull.ExecResult, error) {
	ms, err := p.selectedMembers(ctx, rt, &options{services: []string{service}})
	if err != nil {
		return hull.ExecResult{}, err
	}
	for _, m := range ms {
		if m.info.State.Running {
			return m.c.Exec(ctx, argv, opts...)
		}
	}
	return hull.ExecResult{}, fmt.Errorf("compose exec: %w: service %q has no running container", hull.ErrNotFound, service)
}

// Run starts a one-off container of service (docker compose run): the
// service's configuration, with argv as its command when given and opts
// over the rest, named <project>-<service>-run-<hex>, labelled oneoff.
// The services it depends on are brought up first (Detached, as Docker
// Compose leaves them running). The caller owns the container: it waits
// for it and removes it (or passes hull.WithAutoRemove).
func (p *Project) Run(ctx context.Context, rt *hull.Runtime, service string, argv []string, opts ...hull.RunOption) (*hull.Container, error) {
	s, ok := p.p.Services[service]
	if !ok {
		return nil, fmt.Errorf("compose run: %w: no such service %q", hull.ErrNotFound, service)
	}
	var deps []string
	for d := range s.DependsOn {
		if _, ok := p.p.Services[d]; ok {
			deps = append(deps, d)
		}
	}
	if len(deps) > 0 {
		if err := p.Up(ctx, rt, WithServices(deps...), WithDetached()); err != nil {
			return nil, err
		}
	}
	s.Ports = nil  // published only with --service-ports, which hull lacks
	s.Restart = "" // a one-off container is not restarted
	if s.Deploy != nil {
		d := *s.Deploy
		d.RestartPolicy = nil
		s.Deploy = &d
	}
	u := &upRun{p: p, rt: rt, o: &options{status: io.Discard}, nets: map[string]*hull.Network{}, image: map[string]string{}}
	sp, err := p.serviceOptions(&s)
	if err != nil {
		return nil, err
	}
	u.specs = map[string]*serviceSpec{service: sp}
	u.svcs = map[string]types.ServiceConfig{service: s}
	if err := u.images(ctx, []string{service}); err != nil {
		return nil, err
	}
	if err := u.networks(ctx, []string{service}); err != nil {
		return nil, err
	}
	if err := u.volumes(ctx, []string{service}); err != nil {
		return nil, err
	}
	var id [6]byte
	rand.Read(id[:])
	name := p.p.Name + "-" + service + "-run-" + hex.EncodeToString(id[:])
	labels, err := p.containerLabels(s, 1, true)
	if err != nil {
		return nil, err
	}
	ro, err := u.runOptions(ctx, sp, name, labels)
	if err != nil {
		return nil, err
	}
	if len(argv) > 0 {
		ro = append(ro, hull.WithCmd(argv...))
	}
	ro = append(ro, opts...)
	return rt.Run(ctx, p.imageRef(s), ro...)
}

// Events streams the runtime's events about the project's containers and
// networks (docker compose events): those whose name has the project's
// prefix ("<project>-" for containers, "<project>_" for networks).
func (p *Project) Events(ctx context.Context, rt *hull.Runtime) (<-chan hull.Event, error) {
	in, err := rt.Events(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan hull.Event, 64)
	go func() {
		defer close(out)
		for ev := range in {
			ok := (ev.Type == hull.EventContainer && strings.HasPrefix(ev.Name, p.p.Name+"-")) ||
				(ev.Type == hull.EventNetwork && strings.HasPrefix(ev.Name, p.p.Name+"_"))
			if !ok {
				continue
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
