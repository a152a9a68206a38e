package compose

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/hullbox/hull"
)

// services brings every selected service to its wanted state, each once
// its dependencies are, concurrently otherwise.
func (u *upRun) services(ctx context.Context, selected []string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := map[string]chan struct{}{}
	errs := map[string]error{}
	for _, name := range selected {
		done[name] = make(chan struct{})
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, name := range selected {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[name])
			err := u.afterDeps(ctx, name, done, errs, &mu)
			if err == nil {
				err = u.converge(ctx, name)
			}
			if err != nil {
				mu.Lock()
				errs[name] = err
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	var out []error
	for _, name := range selected {
		if err := errs[name]; err != nil && !errors.Is(err, errDepFailed) {
			out = append(out, err)
		}
	}
	if len(out) == 0 {
		for _, name := range selected {
			if err := errs[name]; err != nil {
				out = append(out, err)
			}
		}
	}
	return errors.Join(out...)
}

var errDepFailed = errors.New("a dependency failed")

// afterDeps waits until name's dependencies satisfy their conditions.
func (u *upRun) afterDeps(ctx context.Context, name string, done map[string]chan struct{}, errs map[string]error, mu *sync.Mutex) error {
	s := u.svcs[name]
	deps := map[string]types.ServiceDependency{}
	for d, c := range s.DependsOn {
		deps[d] = c
	}
	if other, ok := strings.CutPrefix(u.specs[name].networkMode, "service:"); ok && deps[other].Condition == "" {
		deps[other] = types.ServiceDependency{Condition: types.ServiceConditionStarted}
	}
	for _, d := range sortedKeys(deps) {
		ch, ok := done[d]
		if !ok {
			continue // not selected (optional, or not asked for)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return errDepFailed
		}
		mu.Lock()
		err := errs[d]
		mu.Unlock()
		if err != nil {
			return errDepFailed
		}
		switch deps[d].Condition {
		case types.ServiceConditionCompletedSuccessfully:
			if err := u.waitCompleted(ctx, name, d); err != nil {
				return err
			}
		case types.ServiceConditionHealthy:
			if err := u.waitHealthy(ctx, name, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitCompleted waits for every container of dep to exit 0.
func (u *upRun) waitCompleted(ctx context.Context, name, dep string) error {
	u.mu.Lock()
	cs := u.running[dep]
	u.mu.Unlock()
	for _, c := range cs {
		st, err := c.Wait(ctx)
		if err != nil {
			return err
		}
		if st.ExitCode != 0 {
			return u.p.invalid(name, "depends_on."+dep, fmt.Errorf("service %q did not complete successfully: %s exited with %d", dep, c.Name(), st.ExitCode))
		}
	}
	return nil
}

// converge makes the containers of service name what the file wants.
func (u *upRun) converge(ctx context.Context, name string) error {
	s := u.svcs[name]
	sp := u.specs[name]
	want := replicas(&s)
	hash, err := configHash(u.p.p.Services[name])
	if err != nil {
		return err
	}
	keep := map[int]*hull.Container{}
	for _, m := range u.have[name] {
		switch {
		case m.number < 1 || m.number > want || keep[m.number] != nil:
			if err := stopRemove(ctx, m.c, u.o.stopTimeout(), false); err != nil {
				return err
			}
			u.o.statusf("Container %s  Removed", m.c.Name())
		case m.hash != hash || u.o.forceRecreate || m.info.Image != u.image[name]:
			if err := stopRemove(ctx, m.c, u.o.stopTimeout(), false); err != nil {
				return err
			}
			u.o.statusf("Container %s  Recreate", m.c.Name())
		default:
			keep[m.number] = m.c
			if !m.info.State.Running {
				if err := m.c.Start(ctx); err != nil {
					return fmt.Errorf("start %s: %w", m.c.Name(), err)
				}
				u.o.statusf("Container %s  Started", m.c.Name())
			} else {
				u.o.statusf("Container %s  Running", m.c.Name())
			}
		}
	}
	if err := mkdirBinds(sp.binds); err != nil {
		return u.p.invalid(name, "volumes", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for n := 1; n <= want; n++ {
		if keep[n] != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := u.create(ctx, s, sp, n)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			keep[n] = c
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var cs []*hull.Container
	for n := 1; n <= want; n++ {
		cs = append(cs, keep[n])
	}
	u.mu.Lock()
	u.running[name] = cs
	u.mu.Unlock()
	return nil
}

// containerName is the name of container n of service s.
func (p *Project) containerName(s types.ServiceConfig, n int) string {
	if s.ContainerName != "" {
		return s.ContainerName
	}
	return p.p.Name + "-" + s.Name + "-" + strconv.Itoa(n)
}

// create creates and starts container n of service s.
func (u *upRun) create(ctx context.Context, s types.ServiceConfig, sp *serviceSpec, n int) (*hull.Container, error) {
	labels, err := u.p.containerLabels(u.p.p.Services[s.Name], n, false)
	if err != nil {
		return nil, err
	}
	labels[LabelImage] = u.image[s.Name]
	name := u.p.containerName(s, n)
	opts, err := u.runOptions(ctx, sp, name, labels)
	if err != nil {
		return nil, err
	}
	if u.o.detached {
		opts = append(opts, hull.WithDetached())
	}
	c, err := u.rt.Run(ctx, u.p.imageRef(s), opts...)
	if err != nil {
		return nil, &FieldError{File: u.p.file(), Service: s.Name, Field: "(container " + name + ")", Err: err}
	}
	u.mu.Lock()
	u.made = append(u.made, c)
	u.mu.Unlock()
	u.o.statusf("Container %s  Started", name)
	return c, nil
}

// runOptions are the options of one container: the service's, its name
// and labels, and its networks.
func (u *upRun) runOptions(ctx context.Context, sp *serviceSpec, name string, labels map[string]string) ([]hull.RunOption, error) {
	opts := append([]hull.RunOption{}, sp.opts...)
	opts = append(opts, hull.WithName(name), hull.WithLabels(labels))
	mode := sp.networkMode
	other, isContainer := strings.CutPrefix(mode, "container:")
	service, isService := strings.CutPrefix(mode, "service:")
	switch {
	case mode == "host", mode == "none", mode == "bridge":
		opts = append(opts, hull.WithNetworkMode(hull.NetworkMode(mode)))
	case isContainer:
		c, err := u.rt.Container(ctx, other)
		if err != nil {
			return nil, err
		}
		opts = append(opts, hull.WithNetworkMode(hull.NetworkMode("container:"+c.ID())))
	case isService:
		u.mu.Lock()
		cs := u.running[service]
		u.mu.Unlock()
		if len(cs) == 0 {
			return nil, fmt.Errorf("network_mode %s: the service has no container", mode)
		}
		opts = append(opts, hull.WithNetworkMode(hull.NetworkMode("container:"+cs[0].ID())))
	}
	for _, a := range sp.networks {
		var eo []hull.EndpointOption
		if len(a.aliases) > 0 {
			eo = append(eo, hull.WithAlias(a.aliases...))
		}
		if a.ip != "" {
			eo = append(eo, hull.WithIP(a.ip))
		}
		opts = append(opts, hull.WithNetwork(u.nets[a.key], eo...))
	}
	return opts, nil
}

// waitRunning waits until every container Up started that has a
// healthcheck is healthy, and checks that the others are running or have
// exited 0 (up --wait).
func (u *upRun) waitRunning(ctx context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, name := range sortedKeys(u.running) {
		for _, c := range u.running[name] {
			err := c.WaitHealthy(ctx)
			if err == nil {
				continue
			}
			if !errors.Is(err, hull.ErrInvalidArgument) { // it has no healthcheck
				return fmt.Errorf("compose up --wait: service %q: %w", name, err)
			}
			info, err := c.Inspect(ctx)
			if err != nil {
				return err
			}
			if !info.State.Running && info.State.ExitCode != 0 {
				return fmt.Errorf("compose up --wait: container %s exited with %d", c.Name(), info.State.ExitCode)
			}
		}
	}
	return nil
}

// stopRemove stops c (waiting timeout for it to end) and removes it, and
// its anonymous volumes with volumes.
func stopRemove(ctx context.Context, c *hull.Container, timeout time.Duration, volumes bool) error {
	if err := c.Stop(ctx, timeout); err != nil && !errors.Is(err, hull.ErrNotFound) {
		return fmt.Errorf("stop %s: %w", c.Name(), err)
	}
	var ro []hull.RemoveOption
	if volumes {
		ro = append(ro, hull.WithRemoveVolumes())
	}
	if err := c.Remove(ctx, ro...); err != nil && !errors.Is(err, hull.ErrNotFound) {
		return fmt.Errorf("remove %s: %w", c.Name(), err)
	}
	return nil
}
