package compose

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
	"github.com/hullbox/hull"
	"golang.org/x/sys/unix"
)

// serviceSpec is what a service asks of every one of its containers,
// translated to hull's run options, less what needs objects Up makes
// (networks) and what differs per container (name, labels).
type serviceSpec struct {
	opts        []hull.RunOption
	networks    []attachment // by priority; empty with network_mode
	networkMode string       // "", "host", "none", "bridge", "service:x", "container:x"
	binds       []string     // host paths to create before the container (create_host_path)
}

// attachment is one of a service's networks.
type attachment struct {
	key     string // the key in the project's networks
	aliases []string
	ip      string
}

// serviceOptions translates a service's fields to run options, failing
// with a *FieldError on the first field hull cannot honour.
func (p *Project) serviceOptions(s *types.ServiceConfig) (*serviceSpec, error) {
	sp := &serviceSpec{}
	add := func(o ...hull.RunOption) { sp.opts = append(sp.opts, o...) }
	name := s.Name
	bad := func(field string, err error) (*serviceSpec, error) { return nil, p.invalid(name, field, err) }

	if s.Image == "" && s.Build == nil {
		return bad("image", fmt.Errorf("the service has neither image nor build"))
	}
	if s.Command != nil {
		add(hull.WithCmd(s.Command...))
	}
	if s.Entrypoint != nil {
		add(hull.WithEntrypoint(s.Entrypoint...))
	}
	var env []string
	for _, k := range sortedKeys(s.Environment) {
		if v := s.Environment[k]; v != nil {
			env = append(env, k+"="+*v)
		}
	}
	if len(env) > 0 {
		add(hull.WithEnv(env...))
	}
	for i, pc := range s.Ports {
		spec, err := portSpec(pc)
		if err != nil {
			return bad(fmt.Sprintf("ports[%d]", i), err)
		}
		add(hull.WithPublish(spec))
	}
	for i, v := range s.Volumes {
		o, err := p.volumeOption(sp, v)
		if err != nil {
			return bad(fmt.Sprintf("volumes[%d]", i), err)
		}
		add(o)
	}
	for _, t := range s.Tmpfs {
		target, opts, _ := strings.Cut(t, ":")
		add(hull.WithTmpfs(target, opts))
	}
	if err := p.networkOptions(sp, s); err != nil {
		return nil, err
	}
	if s.Hostname != "" {
		add(hull.WithHostname(s.Hostname))
	}
	if s.User != "" {
		add(hull.WithUser(s.User))
	}
	if s.WorkingDir != "" {
		add(hull.WithWorkdir(s.WorkingDir))
	}
	if s.Init != nil && *s.Init {
		add(hull.WithInit())
	}
	if s.ReadOnly {
		add(hull.WithReadOnlyRootfs())
	}
	if len(s.CapAdd) > 0 {
		add(hull.WithCapAdd(s.CapAdd...))
	}
	if len(s.CapDrop) > 0 {
		add(hull.WithCapDrop(s.CapDrop...))
	}
	if s.Privileged {
		add(hull.WithPrivileged())
	}
	for _, k := range sortedKeys(s.Sysctls) {
		add(hull.WithSysctl(k, s.Sysctls[k]))
	}
	for _, k := range sortedKeys(s.Ulimits) {
		u := s.Ulimits[k]
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		add(hull.WithUlimit(k, soft, hard))
	}
	if len(s.DNS) > 0 {
		add(hull.WithDNS(s.DNS...))
	}
	if s.StopSignal != "" {
		sig, err := parseSignal(s.StopSignal)
		if err != nil {
			return bad("stop_signal", err)
		}
		add(hull.WithStopSignal(sig))
	}
	if s.StopGracePeriod != nil {
		add(hull.WithStopTimeout(time.Duration(*s.StopGracePeriod)))
	}
	if s.Tty {
		add(hull.WithTTY())
	}
	if s.StdinOpen {
		add(hull.WithOpenStdin())
	}
	if err := p.resourceOptions(sp, s); err != nil {
		return nil, err
	}
	if err := p.loggingOptions(sp, s); err != nil {
		return nil, err
	}
	if err := p.healthOptions(sp, s); err != nil {
		return nil, err
	}
	if err := p.restartOptions(sp, s); err != nil {
		return nil, err
	}
	for i, l := range s.Links {
		svc, alias, _ := strings.Cut(l, ":")
		if alias != "" && alias != svc {
			return bad(fmt.Sprintf("links[%d]", i), fmt.Errorf("%w: link aliases: use networks.<name>.aliases", hull.ErrUnsupported))
		}
	}
	switch s.PullPolicy {
	case "", types.PullPolicyMissing, types.PullPolicyIfNotPresent, types.PullPolicyAlways, types.PullPolicyNever, types.PullPolicyBuild:
	default:
		return bad("pull_policy", fmt.Errorf("%w: %q", hull.ErrUnsupported, s.PullPolicy))
	}
	return sp, nil
}

// portSpec is a compose port in WithPublish's syntax.
func portSpec(pc types.ServicePortConfig) (string, error) {
	if pc.Mode != "" && pc.Mode != "ingress" && pc.Mode != "host" {
		return "", fmt.Errorf("mode %q", pc.Mode)
	}
	proto := pc.Protocol
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return "", fmt.Errorf("%w: protocol %q", hull.ErrUnsupported, proto)
	}
	target := strconv.FormatUint(uint64(pc.Target), 10)
	switch {
	case pc.HostIP == "" && pc.Published == "":
		return target + "/" + proto, nil
	case pc.HostIP == "":
		return pc.Published + ":" + target + "/" + proto, nil
	default:
		return pc.HostIP + ":" + pc.Published + ":" + target + "/" + proto, nil
	}
}

// volumeOption is a service's volume entry as a run option.
func (p *Project) volumeOption(sp *serviceSpec, v types.ServiceVolumeConfig) (hull.RunOption, error) {
	var mo []hull.MountOption
	if v.ReadOnly {
		mo = append(mo, hull.WithReadOnly())
	}
	if !path.IsAbs(v.Target) {
		return nil, fmt.Errorf("target %q is not an absolute path", v.Target)
	}
	switch v.Type {
	case types.VolumeTypeVolume:
		if v.Volume != nil {
			if v.Volume.Subpath != "" {
				return nil, fmt.Errorf("%w: volume.subpath", hull.ErrUnsupported)
			}
			if v.Volume.NoCopy {
				mo = append(mo, hull.WithNoCopy())
			}
		}
		if v.Source == "" {
			return hull.WithAnonymousVolume(v.Target, mo...), nil
		}
		vc, ok := p.p.Volumes[v.Source]
		if !ok {
			return nil, fmt.Errorf("volume %q is not declared in the top-level volumes", v.Source)
		}
		return hull.WithNamedVolume(volumeName(p.p.Name, v.Source, vc), v.Target, mo...), nil
	case types.VolumeTypeBind:
		if v.Bind != nil {
			if v.Bind.Propagation != "" {
				mo = append(mo, hull.WithPropagation(v.Bind.Propagation))
			}
			if v.Bind.SELinux != "" {
				return nil, fmt.Errorf("%w: SELinux relabelling (:z, :Z)", hull.ErrUnsupported)
			}
			if v.Bind.Recursive != "" && v.Bind.Recursive != "enabled" {
				return nil, fmt.Errorf("%w: bind.recursive %q", hull.ErrUnsupported, v.Bind.Recursive)
			}
		}
		if v.Bind == nil || !bool(v.Bind.CreateHostPath) {
			sp.binds = append(sp.binds, v.Source)
		}
		return hull.WithBind(v.Source, v.Target, mo...), nil
	case types.VolumeTypeTmpfs:
		var opts []string
		if v.Tmpfs != nil {
			if v.Tmpfs.Size != 0 {
				opts = append(opts, fmt.Sprintf("size=%d", v.Tmpfs.Size))
			}
			if v.Tmpfs.Mode != 0 {
				opts = append(opts, fmt.Sprintf("mode=%o", v.Tmpfs.Mode))
			}
		}
		if v.ReadOnly {
			opts = append(opts, "ro")
		}
		return hull.WithTmpfs(v.Target, strings.Join(opts, ",")), nil
	default:
		return nil, fmt.Errorf("%w: volume type %q", hull.ErrUnsupported, v.Type)
	}
}

// volumeName is the name of a project volume: its name: (compose-go
// fills in "<project>_<key>" unless the file gives one).
func volumeName(project, key string, vc types.VolumeConfig) string {
	if vc.Name != "" {
		return vc.Name
	}
	return project + "_" + key
}

// networkName is the name of a project network, like volumeName.
func networkName(project, key string, nc types.NetworkConfig) string {
	if nc.Name != "" {
		return nc.Name
	}
	return project + "_" + key
}

func (p *Project) networkOptions(sp *serviceSpec, s *types.ServiceConfig) error {
	mode := s.NetworkMode
	switch {
	case mode == "":
	case mode == "host", mode == "none", mode == "bridge", strings.HasPrefix(mode, "container:"):
		sp.networkMode = mode
		return nil
	case strings.HasPrefix(mode, "service:"):
		if _, ok := p.p.Services[strings.TrimPrefix(mode, "service:")]; !ok {
			return p.invalid(s.Name, "network_mode", fmt.Errorf("no such service %q", strings.TrimPrefix(mode, "service:")))
		}
		sp.networkMode = mode
		return nil
	default:
		return p.unsupported(s.Name, "network_mode")
	}
	for _, key := range s.NetworksByPriority() {
		nc := s.Networks[key]
		if _, ok := p.p.Networks[key]; !ok {
			return p.invalid(s.Name, "networks."+key, fmt.Errorf("network %q is not declared in the top-level networks", key))
		}
		a := attachment{key: key}
		if nc.ServiceNameAliasEnabled() {
			a.aliases = append(a.aliases, s.Name)
		}
		if nc != nil {
			for _, al := range nc.Aliases {
				if !slices.Contains(a.aliases, al) {
					a.aliases = append(a.aliases, al)
				}
			}
			a.ip = nc.Ipv4Address
			switch {
			case nc.Ipv6Address != "":
				return p.unsupported(s.Name, "networks."+key+".ipv6_address")
			case len(nc.LinkLocalIPs) > 0:
				return p.unsupported(s.Name, "networks."+key+".link_local_ips")
			case nc.MacAddress != "":
				return p.unsupported(s.Name, "networks."+key+".mac_address")
			case nc.InterfaceName != "":
				return p.unsupported(s.Name, "networks."+key+".interface_name")
			case len(nc.DriverOpts) > 0:
				return p.unsupported(s.Name, "networks."+key+".driver_opts")
			}
		}
		sp.networks = append(sp.networks, a)
	}
	return nil
}

func (p *Project) resourceOptions(sp *serviceSpec, s *types.ServiceConfig) error {
	add := func(o ...hull.RunOption) { sp.opts = append(sp.opts, o...) }
	mem, cpus, pids := int64(s.MemLimit), float64(s.CPUS), s.PidsLimit
	if s.Deploy != nil && s.Deploy.Resources.Limits != nil {
		l := s.Deploy.Resources.Limits
		if l.MemoryBytes != 0 {
			mem = int64(l.MemoryBytes)
		}
		if l.NanoCPUs != 0 {
			cpus = float64(l.NanoCPUs)
		}
		if l.Pids != 0 {
			pids = l.Pids
		}
		if len(l.GenericResources) > 0 {
			return p.unsupported(s.Name, "deploy.resources.limits.generic_resources")
		}
	}
	if mem != 0 {
		add(hull.WithMemory(mem))
	}
	if s.MemSwapLimit != 0 {
		add(hull.WithMemorySwap(int64(s.MemSwapLimit)))
	}
	if cpus != 0 {
		add(hull.WithCPUs(cpus))
	}
	if pids != 0 {
		add(hull.WithPidsLimit(pids))
	}
	if s.CPUShares != 0 {
		add(hull.WithCPUShares(s.CPUShares))
	}
	if s.CPUSet != "" {
		add(hull.WithCPUSet(s.CPUSet, ""))
	}
	return nil
}

func (p *Project) loggingOptions(sp *serviceSpec, s *types.ServiceConfig) error {
	driver, opts := s.LogDriver, s.LogOpt
	if s.Logging != nil {
		driver, opts = s.Logging.Driver, s.Logging.Options
	}
	switch driver {
	case "", "json-file", "local":
	default:
		return p.unsupported(s.Name, "logging.driver")
	}
	for _, k := range sortedKeys(opts) {
		v := opts[k]
		switch k {
		case "max-size":
			n, err := units.RAMInBytes(v)
			if err != nil {
				return p.invalid(s.Name, "logging.options.max-size", err)
			}
			sp.opts = append(sp.opts, hull.WithLogMaxSize(n))
		case "max-file":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return p.invalid(s.Name, "logging.options.max-file", err)
			}
			sp.opts = append(sp.opts, hull.WithLogMaxFiles(n))
		default:
			return p.unsupported(s.Name, "logging.options."+k)
		}
	}
	return nil
}

// parseSignal reads a signal as compose files write it: "SIGTERM",
// "TERM" or "15".
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// mkdirBinds creates the host directories of binds that do not exist,
// as Docker Compose does (create_host_path).
func mkdirBinds(paths []string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); os.IsNotExist(err) {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}
