package compose

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/hullbox/hull"
)

// upRun is the state of one Up.
type upRun struct {
	p     *Project
	rt    *hull.Runtime
	o     *options
	specs map[string]*serviceSpec
	svcs  map[string]types.ServiceConfig // the selected services, scaled
	nets  map[string]*hull.Network       // by project key
	have  map[string][]*member           // existing containers by service
	image map[string]string              // image ID by service, once present

	mu      sync.Mutex
	made    []*hull.Container // created by this Up: removed if it fails
	madeNet []*hull.Network
	madeVol []*hull.Volume
	running map[string][]*hull.Container // by service, once converged
}

// Up creates what the project needs and starts its services, like
// `docker compose up`: the networks (<project>_default and those
// declared) and named volumes first, then the containers,
// <project>-<service>-<n>, each service once what it depends_on is
// started (or has completed, with service_completed_successfully).
// Services without dependencies between them start concurrently. Images
// missing locally are pulled first (pull_policy: never refuses instead).
//
// Up is idempotent: a container whose config hash and image are
// unchanged is left running (or started if it stopped); one whose
// service changed, or whose image is another now (rebuilt, pulled
// again), is recreated;
// replicas beyond the wanted count are removed. Containers of services no
// longer in the file are reported, or removed with WithRemoveOrphans.
//
// If Up fails, what it created is removed again: containers, networks and
// volumes that existed before are left as they were.
//
// Options: WithDetached, WithBuild, WithForceRecreate, WithScale,
// WithWait, WithRemoveOrphans, WithServices, WithTimeout, WithStatus.
func (p *Project) Up(ctx context.Context, rt *hull.Runtime, opts ...Option) (retErr error) {
	o, err := parseOptions("up", opts, "WithDetached", "WithBuild", "WithForceRecreate", "WithScale",
		"WithWait", "WithRemoveOrphans", "WithServices", "WithTimeout", "WithStatus")
	if err != nil {
		return err
	}
	if err := p.check(); err != nil {
		return err
	}
	selected, err := p.selectServices(o.services, true)
	if err != nil {
		return err
	}
	u := &upRun{p: p, rt: rt, o: o, specs: map[string]*serviceSpec{}, svcs: map[string]types.ServiceConfig{}, nets: map[string]*hull.Network{},
		have: map[string][]*member{}, image: map[string]string{}, running: map[string][]*hull.Container{}}
	for _, name := range selected {
		s := p.p.Services[name]
		if n, ok := o.scale[name]; ok {
			s.Scale = &n
		}
		if s.ContainerName != "" && replicas(&s) > 1 {
			return p.invalid(name, "container_name", fmt.Errorf("%d replicas cannot share the name %q", replicas(&s), s.ContainerName))
		}
		for i, pc := range s.Ports {
			if replicas(&s) > 1 && pc.Published != "" && !strings.Contains(pc.Published, "-") {
				return p.invalid(name, fmt.Sprintf("ports[%d]", i), fmt.Errorf("%d replicas cannot all publish host port %s", replicas(&s), pc.Published))
			}
		}
		u.svcs[name] = s
		sp, err := p.serviceOptions(&s)
		if err != nil {
			return err
		}
		u.specs[name] = sp
	}
	for name := range o.scale {
		if !slices.Contains(selected, name) {
			return fmt.Errorf("compose up: %w: WithScale: no such service %q", hull.ErrInvalidArgument, name)
		}
	}
	if err := u.images(ctx, selected); err != nil {
		return err
	}
	members, err := p.members(ctx, rt)
	if err != nil {
		return err
	}
	for _, m := range members {
		if m.oneoff {
			continue
		}
		if _, ok := p.p.Services[m.service]; ok {
			u.have[m.service] = append(u.have[m.service], m)
			continue
		}
		if _, ok := p.p.DisabledServices[m.service]; ok {
			continue
		}
		if !o.removeOrphans {
			o.statusf("Found orphan container %s for service %q (remove it with --remove-orphans)", m.c.Name(), m.service)
			continue
		}
		if err := stopRemove(ctx, m.c, o.stopTimeout(), false); err != nil {
			return err
		}
		o.statusf("Container %s  Removed", m.c.Name())
	}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, u.rollback())
		}
	}()
	if err := u.networks(ctx, selected); err != nil {
		return err
	}
	if err := u.volumes(ctx, selected); err != nil {
		return err
	}
	if err := u.services(ctx, selected); err != nil {
		return err
	}
	if o.wait {
		return u.waitRunning(ctx)
	}
	return nil
}

// selectServices is names (every service if empty) and, with deps, what
// they depend on, in dependency order.
func (p *Project) selectServices(names []string, deps bool) ([]string, error) {
	order, err := p.order()
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return order, nil
	}
	want := map[string]bool{}
	var add func(n string) error
	add = func(n string) error {
		s, ok := p.p.Services[n]
		if !ok {
			return fmt.Errorf("compose: %w: no such service %q", hull.ErrNotFound, n)
		}
		if want[n] {
			return nil
		}
		want[n] = true
		if deps {
			for d := range s.DependsOn {
				if _, ok := p.p.Services[d]; ok {
					if err := add(d); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	for _, n := range names {
		if err := add(n); err != nil {
			return nil, err
		}
	}
	var out []string
	for _, n := range order {
		if want[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

// imageRef is the image a service runs: image:, else the name Docker
// Compose gives a built image.
func (p *Project) imageRef(s types.ServiceConfig) string {
	if s.Image != "" {
		return s.Image
	}
	return p.p.Name + "-" + s.Name
}

// images makes sure every selected service's image is present: pulled
// if missing (or always, with pull_policy: always), built for build:,
// and records their IDs.
func (u *upRun) images(ctx context.Context, selected []string) error {
	for _, name := range selected {
		if err := u.image1(ctx, name); err != nil {
			return err
		}
		img, err := u.rt.Image(ctx, u.p.imageRef(u.p.p.Services[name]))
		if err != nil {
			return u.p.invalid(name, "image", err)
		}
		u.image[name] = img.ID()
	}
	return nil
}

func (u *upRun) image1(ctx context.Context, name string) error {
	s := u.p.p.Services[name]
	ref := u.p.imageRef(s)
	_, err := u.rt.Image(ctx, ref)
	missing := errors.Is(err, hull.ErrNotFound)
	if err != nil && !missing {
		return u.p.invalid(name, "image", err)
	}
	if s.Build != nil && (missing || u.o.build || s.PullPolicy == types.PullPolicyBuild) {
		return u.p.build(ctx, u.rt, s, u.o)
	}
	if !missing && s.PullPolicy != types.PullPolicyAlways {
		return nil
	}
	if s.PullPolicy == types.PullPolicyNever {
		return u.p.invalid(name, "image", fmt.Errorf("%w: image %s is not present and pull_policy is never", hull.ErrNotFound, ref))
	}
	return u.p.pull(ctx, u.rt, s, u.o)
}

func (p *Project) pull(ctx context.Context, rt *hull.Runtime, s types.ServiceConfig, o *options) error {
	var po []hull.ImageOption
	if s.Platform != "" {
		po = append(po, hull.WithPlatform(s.Platform))
	}
	o.statusf("Image %s  Pulling", s.Image)
	if _, err := rt.Pull(ctx, s.Image, po...); err != nil {
		return p.invalid(s.Name, "image", fmt.Errorf("pull %s: %w", s.Image, err))
	}
	o.statusf("Image %s  Pulled", s.Image)
	return nil
}

func (u *upRun) rollback() error {
	ctx := context.WithoutCancel(context.Background())
	u.mu.Lock()
	defer u.mu.Unlock()
	var errs []error
	for _, c := range u.made {
		if err := c.Remove(ctx, hull.WithForce(), hull.WithRemoveVolumes()); err != nil && !errors.Is(err, hull.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	for _, n := range u.madeNet {
		if err := n.Remove(ctx); err != nil && !errors.Is(err, hull.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	for _, v := range u.madeVol {
		if err := v.Remove(ctx); err != nil && !errors.Is(err, hull.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// networks creates (or finds) the networks the selected services use.
func (u *upRun) networks(ctx context.Context, selected []string) error {
	keys := map[string]bool{}
	for _, name := range selected {
		for _, a := range u.specs[name].networks {
			keys[a.key] = true
		}
	}
	for _, key := range sortedKeys(keys) {
		nc := u.p.p.Networks[key]
		name := networkName(u.p.p.Name, key, nc)
		n, err := u.rt.Network(ctx, name)
		switch {
		case err == nil:
			u.nets[key] = n
			continue
		case !errors.Is(err, hull.ErrNotFound):
			return err
		case bool(nc.External):
			return u.p.invalid("networks."+key, "external", fmt.Errorf("%w: network %s", hull.ErrNotFound, name))
		}
		labels := map[string]string{LabelProject: u.p.p.Name, LabelNetwork: key, LabelVersion: version}
		for k, v := range nc.Labels {
			labels[k] = v
		}
		no := []hull.NetworkOption{hull.WithNetworkLabels(labels)}
		if nc.Internal {
			no = append(no, hull.WithInternal())
		}
		if len(nc.Ipam.Config) == 1 {
			c := nc.Ipam.Config[0]
			if c.Subnet != "" {
				no = append(no, hull.WithSubnet(c.Subnet))
			}
			if c.Gateway != "" {
				no = append(no, hull.WithGateway(c.Gateway))
			}
			if c.IPRange != "" {
				no = append(no, hull.WithIPRange(c.IPRange))
			}
		}
		n, err = u.rt.CreateNetwork(ctx, name, no...)
		if err != nil {
			return u.p.invalid("networks."+key, "ipam", fmt.Errorf("create network %s: %w", name, err))
		}
		u.mu.Lock()
		u.madeNet = append(u.madeNet, n)
		u.mu.Unlock()
		u.nets[key] = n
		u.o.statusf("Network %s  Created", name)
	}
	return nil
}

// volumes creates the declared volumes the selected services mount.
func (u *upRun) volumes(ctx context.Context, selected []string) error {
	keys := map[string]bool{}
	for _, name := range selected {
		for _, v := range u.p.p.Services[name].Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				keys[v.Source] = true
			}
		}
	}
	for _, key := range sortedKeys(keys) {
		vc := u.p.p.Volumes[key]
		name := volumeName(u.p.p.Name, key, vc)
		_, err := u.rt.Volume(ctx, name)
		switch {
		case err == nil:
			continue
		case !errors.Is(err, hull.ErrNotFound):
			return err
		case bool(vc.External):
			return u.p.invalid("volumes."+key, "external", fmt.Errorf("%w: volume %s", hull.ErrNotFound, name))
		}
		labels := map[string]string{LabelProject: u.p.p.Name, LabelVolume: key, LabelVersion: version}
		for k, v := range vc.Labels {
			labels[k] = v
		}
		v, err := u.rt.CreateVolume(ctx, name, hull.WithVolumeLabels(labels))
		if err != nil {
			return err
		}
		u.mu.Lock()
		u.madeVol = append(u.madeVol, v)
		u.mu.Unlock()
		u.o.statusf("Volume %s  Created", name)
	}
	return nil
}
