package compose

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/hullbox/hull"
)

// unsupportedFields are the service fields hull has no run option for:
// a file that sets one is refused rather than run differently from what
// it says.
var unsupportedFields = []struct {
	name string
	set  func(s *types.ServiceConfig) bool
}{
	{"annotations", func(s *types.ServiceConfig) bool { return len(s.Annotations) > 0 }},
	{"blkio_config", func(s *types.ServiceConfig) bool { return s.BlkioConfig != nil }},
	{"cgroup_parent", func(s *types.ServiceConfig) bool { return s.CgroupParent != "" }},
	{"cgroup", func(s *types.ServiceConfig) bool { return s.Cgroup != "" }},
	{"cpu_count", func(s *types.ServiceConfig) bool { return s.CPUCount != 0 }},
	{"cpu_percent", func(s *types.ServiceConfig) bool { return s.CPUPercent != 0 }},
	{"cpu_period", func(s *types.ServiceConfig) bool { return s.CPUPeriod != 0 }},
	{"cpu_quota", func(s *types.ServiceConfig) bool { return s.CPUQuota != 0 }},
	{"cpu_rt_period", func(s *types.ServiceConfig) bool { return s.CPURTPeriod != 0 }},
	{"cpu_rt_runtime", func(s *types.ServiceConfig) bool { return s.CPURTRuntime != 0 }},
	{"configs", func(s *types.ServiceConfig) bool { return len(s.Configs) > 0 }},
	{"secrets", func(s *types.ServiceConfig) bool { return len(s.Secrets) > 0 }},
	{"credential_spec", func(s *types.ServiceConfig) bool { return s.CredentialSpec != nil }},
	{"device_cgroup_rules", func(s *types.ServiceConfig) bool { return len(s.DeviceCgroupRules) > 0 }},
	{"devices", func(s *types.ServiceConfig) bool { return len(s.Devices) > 0 }},
	{"dns_opt", func(s *types.ServiceConfig) bool { return len(s.DNSOpts) > 0 }},
	{"dns_search", func(s *types.ServiceConfig) bool { return len(s.DNSSearch) > 0 }},
	{"domainname", func(s *types.ServiceConfig) bool { return s.DomainName != "" }},
	{"extra_hosts", func(s *types.ServiceConfig) bool { return len(s.ExtraHosts) > 0 }},
	{"group_add", func(s *types.ServiceConfig) bool { return len(s.GroupAdd) > 0 }},
	{"gpus", func(s *types.ServiceConfig) bool { return len(s.Gpus) > 0 }},
	{"ipc", func(s *types.ServiceConfig) bool { return s.Ipc != "" }},
	{"isolation", func(s *types.ServiceConfig) bool { return s.Isolation != "" }},
	{"mem_reservation", func(s *types.ServiceConfig) bool { return s.MemReservation != 0 }},
	{"mem_swappiness", func(s *types.ServiceConfig) bool { return s.MemSwappiness != 0 }},
	{"mac_address", func(s *types.ServiceConfig) bool { return s.MacAddress != "" }},
	{"models", func(s *types.ServiceConfig) bool { return len(s.Models) > 0 }},
	{"oom_kill_disable", func(s *types.ServiceConfig) bool { return s.OomKillDisable }},
	{"oom_score_adj", func(s *types.ServiceConfig) bool { return s.OomScoreAdj != 0 }},
	{"pid", func(s *types.ServiceConfig) bool { return s.Pid != "" }},
	{"runtime", func(s *types.ServiceConfig) bool { return s.Runtime != "" }},
	{"security_opt", func(s *types.ServiceConfig) bool { return len(s.SecurityOpt) > 0 }},
	{"shm_size", func(s *types.ServiceConfig) bool { return s.ShmSize != 0 }},
	{"storage_opt", func(s *types.ServiceConfig) bool { return len(s.StorageOpt) > 0 }},
	{"umask", func(s *types.ServiceConfig) bool { return s.Umask != nil }},
	{"use_api_socket", func(s *types.ServiceConfig) bool { return s.UseAPISocket }},
	{"userns_mode", func(s *types.ServiceConfig) bool { return s.UserNSMode != "" }},
	{"uts", func(s *types.ServiceConfig) bool { return s.Uts != "" }},
	{"volume_driver", func(s *types.ServiceConfig) bool { return s.VolumeDriver != "" }},
	{"volumes_from", func(s *types.ServiceConfig) bool { return len(s.VolumesFrom) > 0 }},
	{"external_links", func(s *types.ServiceConfig) bool { return len(s.ExternalLinks) > 0 }},
	{"provider", func(s *types.ServiceConfig) bool { return s.Provider != nil }},
	{"pre_start", func(s *types.ServiceConfig) bool { return len(s.PreStart) > 0 }},
	{"post_start", func(s *types.ServiceConfig) bool { return len(s.PostStart) > 0 }},
	{"pre_stop", func(s *types.ServiceConfig) bool { return len(s.PreStop) > 0 }},
	{"deploy.resources.reservations", func(s *types.ServiceConfig) bool {
		return s.Deploy != nil && s.Deploy.Resources.Reservations != nil
	}},
	{"deploy.resources.limits.devices", func(s *types.ServiceConfig) bool {
		return s.Deploy != nil && s.Deploy.Resources.Limits != nil && len(s.Deploy.Resources.Limits.Devices) > 0
	}},
	{"deploy.placement", func(s *types.ServiceConfig) bool {
		return s.Deploy != nil && (len(s.Deploy.Placement.Constraints) > 0 || len(s.Deploy.Placement.Preferences) > 0)
	}},
	{"deploy.mode", func(s *types.ServiceConfig) bool {
		return s.Deploy != nil && s.Deploy.Mode != "" && s.Deploy.Mode != "replicated"
	}},
}

// check refuses, before anything starts, what Up could not do as the
// file says: fields hull lacks, bad values, dependency cycles, ports two
// services publish twice.
func (p *Project) check() error {
	var errs []error
	for _, name := range p.p.ServiceNames() {
		s := p.p.Services[name]
		for _, f := range unsupportedFields {
			if f.set(&s) {
				errs = append(errs, p.unsupported(name, f.name))
			}
		}
		if _, err := p.serviceOptions(&s); err != nil {
			errs = append(errs, err)
		}
		if s.Build != nil {
			if _, _, err := p.buildOptions(s); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, name := range sortedKeys(p.p.Networks) {
		if err := p.checkNetwork(name, p.p.Networks[name]); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range sortedKeys(p.p.Volumes) {
		v := p.p.Volumes[name]
		if v.Driver != "" && v.Driver != "local" {
			errs = append(errs, p.unsupported("volumes."+name, "driver"))
		}
		if len(v.DriverOpts) > 0 {
			errs = append(errs, p.unsupported("volumes."+name, "driver_opts"))
		}
	}
	if len(p.p.Secrets) > 0 {
		errs = append(errs, p.unsupported("", "secrets"))
	}
	if len(p.p.Configs) > 0 {
		errs = append(errs, p.unsupported("", "configs"))
	}
	if _, err := p.order(); err != nil {
		errs = append(errs, err)
	}
	if err := p.checkPorts(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (p *Project) checkNetwork(name string, n types.NetworkConfig) error {
	svc := "networks." + name
	switch {
	case bool(n.External):
		return nil
	case n.Driver != "" && n.Driver != "bridge":
		return p.unsupported(svc, "driver")
	case len(n.DriverOpts) > 0:
		return p.unsupported(svc, "driver_opts")
	case n.EnableIPv6 != nil && *n.EnableIPv6:
		return p.unsupported(svc, "enable_ipv6")
	case n.Ipam.Driver != "" && n.Ipam.Driver != "default":
		return p.unsupported(svc, "ipam.driver")
	case len(n.Ipam.Config) > 1:
		return p.invalid(svc, "ipam.config", fmt.Errorf("hull networks have one IPv4 subnet, not %d", len(n.Ipam.Config)))
	case len(n.Ipam.Config) == 1 && len(n.Ipam.Config[0].AuxiliaryAddresses) > 0:
		return p.unsupported(svc, "ipam.config[0].aux_addresses")
	}
	return nil
}

// order returns the services in an order that starts every dependency
// before its dependents, or an error naming a dependency cycle.
func (p *Project) order() ([]string, error) {
	const (
		unseen = iota
		visiting
		done
	)
	state := map[string]int{}
	var out []string
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			i := slices.Index(path, name)
			cycle := append(slices.Clone(path[i:]), name)
			return p.invalid(name, "depends_on", fmt.Errorf("dependency cycle: %s", strings.Join(cycle, " -> ")))
		}
		state[name] = visiting
		s, ok := p.p.Services[name]
		if ok {
			for _, dep := range sortedKeys(s.DependsOn) {
				if _, ok := p.p.Services[dep]; !ok {
					if s.DependsOn[dep].Required {
						return p.invalid(name, "depends_on."+dep, fmt.Errorf("no such service"))
					}
					continue
				}
				if err := visit(dep, append(path, name)); err != nil {
					return err
				}
			}
		}
		state[name] = done
		out = append(out, name)
		return nil
	}
	for _, name := range p.p.ServiceNames() {
		if err := visit(name, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkPorts refuses a fixed host port that two services (or two
// replicas of one) would publish.
func (p *Project) checkPorts() error {
	seen := map[string]string{}
	for _, name := range p.p.ServiceNames() {
		s := p.p.Services[name]
		for i, pc := range s.Ports {
			if pc.Published == "" || strings.Contains(pc.Published, "-") {
				continue
			}
			proto := pc.Protocol
			if proto == "" {
				proto = "tcp"
			}
			key := pc.Published + "/" + proto
			field := fmt.Sprintf("ports[%d]", i)
			if replicas(&s) > 1 {
				return p.invalid(name, field, fmt.Errorf("%d replicas cannot all publish host port %s", replicas(&s), key))
			}
			if other, ok := seen[key]; ok {
				return p.invalid(name, field, fmt.Errorf("%w: host port %s is also published by service %q", hull.ErrConflict, key, other))
			}
			seen[key] = name
		}
	}
	return nil
}

// replicas is how many containers a service wants: scale, else
// deploy.replicas, else 1.
func replicas(s *types.ServiceConfig) int {
	if s.Scale != nil {
		return *s.Scale
	}
	if s.Deploy != nil && s.Deploy.Replicas != nil {
		return *s.Deploy.Replicas
	}
	return 1
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
