package compose

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/hullbox/hull"
)

// levels groups the project's services by dependency depth: level 0
// depends on nothing, level n on services of lower levels only.
func (p *Project) levels() ([][]string, error) {
	order, err := p.order()
	if err != nil {
		return nil, err
	}
	depth := map[string]int{}
	var out [][]string
	for _, name := range order { // dependencies come first
		d := 0
		for dep := range p.p.Services[name].DependsOn {
			if dd, ok := depth[dep]; ok && dd+1 > d {
				d = dd + 1
			}
		}
		depth[name] = d
		for len(out) <= d {
			out = append(out, nil)
		}
		out[d] = append(out[d], name)
	}
	return out, nil
}

// inReverse calls fn on groups of members, dependents before what they
// depend on, the members of one level concurrently. Members of services
// not in the file (orphans, one-off containers) come first.
func (p *Project) inReverse(ms []*member, fn func(*member) error) error {
	levels, err := p.levels()
	if err != nil {
		return err
	}
	level := map[string]int{}
	for i, l := range levels {
		for _, s := range l {
			level[s] = i
		}
	}
	groups := make([][]*member, len(levels)+1)
	for _, m := range ms {
		i, ok := level[m.service]
		if !ok || m.oneoff {
			groups[len(levels)] = append(groups[len(levels)], m)
			continue
		}
		groups[i] = append(groups[i], m)
	}
	var errs []error
	for i := len(groups) - 1; i >= 0; i-- {
		errs = append(errs, parallel(groups[i], fn))
	}
	return errors.Join(errs...)
}

// inOrder is inReverse the other way: dependencies first.
func (p *Project) inOrder(ms []*member, fn func(*member) error) error {
	levels, err := p.levels()
	if err != nil {
		return err
	}
	level := map[string]int{}
	for i, l := range levels {
		for _, s := range l {
			level[s] = i
		}
	}
	groups := make([][]*member, len(levels)+1)
	for _, m := range ms {
		if i, ok := level[m.service]; ok && !m.oneoff {
			groups[i] = append(groups[i], m)
		} else if p.byName && !m.oneoff {
			groups[len(levels)] = append(groups[len(levels)], m)
		}
	}
	for _, g := range groups {
		if err := parallel(g, fn); err != nil {
			return err
		}
	}
	return nil
}

func parallel(ms []*member, fn func(*member) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(ms))
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(m)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// selectedMembers are the project's containers of the services o names
// (every one if none), one-off containers left out.
func (p *Project) selectedMembers(ctx context.Context, rt *hull.Runtime, o *options) ([]*member, error) {
	for _, s := range o.services {
		if _, ok := p.p.Services[s]; !ok && !p.byName {
			return nil, fmt.Errorf("compose: %w: no such service %q", hull.ErrNotFound, s)
		}
	}
	ms, err := p.members(ctx, rt)
	if err != nil {
		return nil, err
	}
	var out []*member
	for _, m := range ms {
		if (m.oneoff && !p.byName) || (len(o.services) > 0 && !slices.Contains(o.services, m.service)) {
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// Down stops and removes the project's containers (dependents first),
// one-off ones included, then its networks; with WithRemoveVolumes its
// volumes too, like `docker compose down`. What it removes is found by
// the project's label, so Down works from any process, on containers
// another process brought up. Containers of services no longer in the
// file are removed with WithRemoveOrphans only (as Docker, a network they
// still use is then left in place).
//
// Options: WithRemoveOrphans, WithRemoveVolumes, WithRemoveImages,
// WithTimeout, WithStatus.
func (p *Project) Down(ctx context.Context, rt *hull.Runtime, opts ...Option) error {
	o, err := parseOptions("down", opts, "WithRemoveOrphans", "WithRemoveVolumes", "WithRemoveImages", "WithTimeout", "WithStatus")
	if err != nil {
		return err
	}
	ms, err := p.members(ctx, rt)
	if err != nil {
		return err
	}
	var gone []*member
	for _, m := range ms {
		_, known := p.p.Services[m.service]
		if _, disabled := p.p.DisabledServices[m.service]; disabled {
			known = true
		}
		if known || m.oneoff || o.removeOrphans || p.byName {
			gone = append(gone, m)
		} else {
			o.statusf("Found orphan container %s for service %q (remove it with --remove-orphans)", m.c.Name(), m.service)
		}
	}
	var errs []error
	errs = append(errs, p.inReverse(gone, func(m *member) error {
		if err := stopRemove(ctx, m.c, o.stopTimeout(), o.removeVolumes); err != nil {
			return err
		}
		o.statusf("Container %s  Removed", m.c.Name())
		return nil
	}))
	errs = append(errs, p.removeNetworks(ctx, rt, o))
	if o.removeVolumes {
		errs = append(errs, p.removeVolumes(ctx, rt, o))
	}
	if o.removeImages != "" {
		errs = append(errs, p.removeImages(ctx, rt, o))
	}
	return errors.Join(errs...)
}

// removeNetworks removes the networks labelled with the project's name.
func (p *Project) removeNetworks(ctx context.Context, rt *hull.Runtime, o *options) error {
	nets, err := rt.Networks(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range nets {
		info, err := n.Inspect(ctx)
		if err != nil || info.Labels[LabelProject] != p.p.Name {
			continue
		}
		if err := n.Remove(ctx); err != nil && !errors.Is(err, hull.ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name(), err))
			continue
		}
		o.statusf("Network %s  Removed", n.Name())
	}
	return errors.Join(errs...)
}

// removeVolumes removes the volumes labelled with the project's name.
func (p *Project) removeVolumes(ctx context.Context, rt *hull.Runtime, o *options) error {
	vols, err := rt.Volumes(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range vols {
		info, err := v.Inspect(ctx)
		if err != nil || info.Labels[LabelProject] != p.p.Name {
			continue
		}
		if err := v.Remove(ctx); err != nil && !errors.Is(err, hull.ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name(), err))
			continue
		}
		o.statusf("Volume %s  Removed", v.Name())
	}
	return errors.Join(errs...)
}

func (p *Project) removeImages(ctx context.Context, rt *hull.Runtime, o *options) error {
	var errs []error
	for _, name := range p.p.ServiceNames() {
		s := p.p.Services[name]
		if o.removeImages == "local" && s.Image != "" {
			continue
		}
		ref := p.imageRef(s)
		if _, err := rt.RemoveImage(ctx, ref); err != nil && !errors.Is(err, hull.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		o.statusf("Image %s  Removed", ref)
	}
	return errors.Join(errs...)
}

// Stop stops the project's running containers, dependents first
// (docker compose stop). They keep their data and can be started again.
// Options: WithServices, WithTimeout, WithStatus.
func (p *Project) Stop(ctx context.Context, rt *hull.Runtime, opts ...Option) error {
	o, err := parseOptions("stop", opts, "WithServices", "WithTimeout", "WithStatus")
	if err != nil {
		return err
	}
	ms, err := p.selectedMembers(ctx, rt, o)
	if err != nil {
		return err
	}
	return p.inReverse(ms, func(m *member) error {
		if err := m.c.Stop(ctx, o.stopTimeout()); err != nil {
			return fmt.Errorf("stop %s: %w", m.c.Name(), err)
		}
		o.statusf("Container %s  Stopped", m.c.Name())
		return nil
	})
}

// Start starts the project's stopped containers, dependencies first
// (docker compose start). It creates nothing: use Up for that.
// Options: WithServices, WithStatus.
func (p *Project) Start(ctx context.Context, rt *hull.Runtime, opts ...Option) error {
	o, err := parseOptions("start", opts, "WithServices", "WithStatus")
	if err != nil {
		return err
	}
	ms, err := p.selectedMembers(ctx, rt, o)
	if err != nil {
		return err
	}
	return p.inOrder(ms, func(m *member) error {
		if m.info.State.Running {
			return nil
		}
		if err := m.c.Start(ctx); err != nil {
			return fmt.Errorf("start %s: %w", m.c.Name(), err)
		}
		o.statusf("Container %s  Started", m.c.Name())
		return nil
	})
}

// Restart restarts the project's containers, dependencies first (docker
// compose restart). Options: WithServices, WithTimeout, WithStatus.
func (p *Project) Restart(ctx context.Context, rt *hull.Runtime, opts ...Option) error {
	o, err := parseOptions("restart", opts, "WithServices", "WithTimeout", "WithStatus")
	if err != nil {
		return err
	}
	ms, err := p.selectedMembers(ctx, rt, o)
	if err != nil {
		return err
	}
	return p.inOrder(ms, func(m *member) error {
		if err := m.c.Restart(ctx, o.stopTimeout()); err != nil {
			return fmt.Errorf("restart %s: %w", m.c.Name(), err)
		}
		o.statusf("Container %s  Restarted", m.c.Name())
		return nil
	})
}

// Pull pulls the images of the project's services that have image:
// (docker compose pull). Options: WithServices, WithStatus.
func (p *Project) Pull(ctx context.Context, rt *hull.Runtime, opts ...Option) error {
	o, err := parseOptions("pull", opts, "WithServices", "WithStatus")
	if err != nil {
		return err
	}
	names, err := p.selectServices(o.services, false)
	if err != nil {
		return err
	}
	for _, name := range names {
		s := p.p.Services[name]
		if s.Image == "" {
			continue
		}
		if err := p.pull(ctx, rt, s, o); err != nil {
			return err
		}
	}
	return nil
}

// Build builds the images of the project's services that have build:
// (docker compose build) with hull's Runtime.Build, tagged image: or
// <project>-<service> (and build.tags). Unlike Docker, RUN steps have no
// network unless build.network says (hull's Build default).
// Options: WithServices, WithStatus.
func (p *Project) Build(ctx context.Context, rt *hull.Runtime, opts ...Option) error {
	o, err := parseOptions("build", opts, "WithServices", "WithStatus")
	if err != nil {
		return err
	}
	names, err := p.selectServices(o.services, false)
	if err != nil {
		return err
	}
	for _, name := range names {
		if s := p.p.Services[name]; s.Build != nil {
			if err := p.build(ctx, rt, s, o); err != nil {
				return err
			}
		}
	}
	return nil
}
