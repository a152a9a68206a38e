package spec

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestProcessArgs(t *testing.T) {
	t.Parallel()
	image := ocispec.ImageConfig{Entrypoint: []string{"/entry", "-x"}, Cmd: []string{"serve", "--port=1"}}
	tests := []struct {
		name          string
		image         ocispec.ImageConfig
		cmd, entry    []string
		entrypointSet bool
		want          []string
	}{
		{name: "image entrypoint and cmd", image: image, want: []string{"/entry", "-x", "serve", "--port=1"}},
		{name: "cmd replaces image cmd", image: image, cmd: []string{"shell"}, want: []string{"/entry", "-x", "shell"}},
		{name: "entrypoint drops image cmd", image: image, entry: []string{"/bin/sh"}, want: []string{"/bin/sh"}},
		{name: "entrypoint and cmd", image: image, entry: []string{"/bin/sh", "-c"}, cmd: []string{"id"}, want: []string{"/bin/sh", "-c", "id"}},
		{name: "empty entrypoint override keeps only cmd", image: image, entrypointSet: true, cmd: []string{"ls"}, want: []string{"ls"}},
		{name: "empty entrypoint override, no cmd", image: image, entrypointSet: true},
		{name: "image cmd only", image: ocispec.ImageConfig{Cmd: []string{"/bin/sh"}}, want: []string{"/bin/sh"}},
		{name: "cmd without image", cmd: []string{"true"}, want: []string{"true"}},
		{name: "nothing", image: ocispec.ImageConfig{}},
		{name: "empty program", image: ocispec.ImageConfig{Cmd: []string{""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Image: tt.image, Cmd: tt.cmd, Entrypoint: tt.entry, EntrypointSet: tt.entrypointSet}
			got, err := processArgs(&o)
			if tt.want == nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("processArgs = %q, %v; want ErrInvalid", got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("processArgs = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		image    []string
		env      []string
		tty      bool
		hostname string
		want     []string
	}{
		{name: "defaults", want: []string{"PATH=" + DefaultPath, "HOSTNAME=0123456789ab", "HOME=/root"}},
		{name: "image PATH replaces default in place",
			image: []string{"PATH=/opt/bin", "LANG=C"},
			want:  []string{"PATH=/opt/bin", "HOSTNAME=0123456789ab", "LANG=C", "HOME=/root"}},
		{name: "user wins over image, later user wins",
			image: []string{"A=image", "B=image"}, env: []string{"A=user", "C=1", "C=2"},
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=0123456789ab", "A=user", "B=image", "C=2", "HOME=/root"}},
		{name: "entry without = unsets",
			image: []string{"A=image", "B=image"}, env: []string{"A"},
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=0123456789ab", "B=image", "HOME=/root"}},
		{name: "tty sets TERM, hostname option",
			tty: true, hostname: "web",
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=web", "TERM=xterm", "HOME=/root"}},
		{name: "user TERM and HOME win",
			tty: true, env: []string{"TERM=dumb", "HOME=/data"},
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=0123456789ab", "TERM=dumb", "HOME=/data"}},
		{name: "value may hold =",
			env:  []string{"X=a=b"},
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=0123456789ab", "X=a=b", "HOME=/root"}},
		{name: "empty key", env: []string{"=x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := baseOptions()
			o.Image.Env, o.Env, o.TTY, o.Hostname = tt.image, tt.env, tt.tty, tt.hostname
			got, err := mergeEnv(&o, "/root")
			if tt.want == nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("mergeEnv = %q, %v; want ErrInvalid", got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("mergeEnv =\n%q, %v\nwant\n%q", got, err, tt.want)
			}
		})
	}
}

func TestEnvHomeFromPasswd(t *testing.T) {
	t.Parallel()
	for user, home := range map[string]string{"": "/root", "alice": "/home/alice", "nohome": "/", "4242": "/"} {
		o := baseOptions()
		o.User = user
		s := generate(t, o)
		if !slices.Contains(s.Process.Env, "HOME="+home) {
			t.Errorf("user %q: env %q lacks HOME=%s", user, s.Process.Env, home)
		}
	}
}

func TestWorkingDir(t *testing.T) {
	t.Parallel()
	tests := []struct{ opt, image, want string }{
		{"", "", "/"},
		{"", "/app", "/app"},
		{"", "app", "/app"},
		{"/srv/", "/app", "/srv"},
		{"relative", "", ""},
	}
	for _, tt := range tests {
		o := Options{WorkingDir: tt.opt, Image: ocispec.ImageConfig{WorkingDir: tt.image}}
		got, err := workingDir(&o)
		if tt.want == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("workingDir(%q, %q) = %q, %v; want ErrInvalid", tt.opt, tt.image, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("workingDir(%q, %q) = %q, %v; want %q", tt.opt, tt.image, got, err, tt.want)
		}
	}
}

func TestGenerateDefaults(t *testing.T) {
	t.Parallel()
	o := baseOptions()
	o.Image.User = "alice"
	o.NetNSPath = "/run/netns/x"
	o.CgroupsPath = "/hull/abc"
	s := generate(t, o)

	if s.Version != specs.Version || s.Hostname != "0123456789ab" || s.Root.Readonly {
		t.Errorf("version %q hostname %q readonly %v", s.Version, s.Hostname, s.Root.Readonly)
	}
	p := s.Process
	if p.User.UID != 1000 || p.User.GID != 1000 || !slices.Equal(p.User.AdditionalGids, []uint32{10, 29, 50}) {
		t.Errorf("user = %+v", p.User)
	}
	if p.Cwd != "/" || !p.NoNewPrivileges || p.OOMScoreAdj == nil || *p.OOMScoreAdj != 0 || p.Terminal {
		t.Errorf("cwd %q nnp %v oom %v terminal %v", p.Cwd, p.NoNewPrivileges, p.OOMScoreAdj, p.Terminal)
	}
	// Non-root: only the bounding set, as Docker ≥ 20.10.
	c := p.Capabilities
	if !slices.Equal(c.Bounding, slices.Clone(defaultCaps)) || c.Effective != nil || c.Permitted != nil || c.Inheritable != nil || c.Ambient != nil {
		t.Errorf("capabilities = %+v", c)
	}
	var ns []string
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, string(n.Type))
		if n.Type == specs.NetworkNamespace && n.Path != "/run/netns/x" {
			t.Errorf("network namespace path %q", n.Path)
		}
	}
	if want := []string{"pid", "ipc", "uts", "mount", "network", "cgroup"}; !slices.Equal(ns, want) {
		t.Errorf("namespaces %q, want %q", ns, want)
	}
	if s.Linux.CgroupsPath != "/hull/abc" || s.Linux.Seccomp == nil {
		t.Errorf("cgroups path %q, seccomp %v", s.Linux.CgroupsPath, s.Linux.Seccomp != nil)
	}
	if !slices.Equal(s.Linux.MaskedPaths, maskedPaths) || !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") {
		t.Errorf("masked paths %q", s.Linux.MaskedPaths)
	}
	if !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") || len(s.Linux.ReadonlyPaths) != 5 {
		t.Errorf("readonly paths %q", s.Linux.ReadonlyPaths)
	}
	var devs []string
	for _, d := range s.Linux.Devices {
		devs = append(devs, d.Path)
	}
	if want := []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}; !slices.Equal(devs, want) {
		t.Errorf("devices %q", devs)
	}
	if s.Annotations[AnnotationStopSignal] != "SIGTERM" || s.Annotations[AnnotationInit] != "" {
		t.Errorf("annotations %v", s.Annotations)
	}
	if s.Linux.Resources.Memory != nil || s.Linux.Resources.CPU != nil || s.Linux.Resources.Pids != nil {
		t.Errorf("resources set without options: %+v", s.Linux.Resources)
	}
}

func TestGenerateRootAndReadonly(t *testing.T) {
	t.Parallel()
	o := baseOptions()
	o.ReadonlyRootfs, o.TTY, o.AllowNewPrivileges = true, true, true
	s := generate(t, o)
	c := s.Process.Capabilities
	if !slices.Equal(c.Effective, c.Bounding) || !slices.Equal(c.Permitted, c.Bounding) || c.Inheritable != nil || c.Ambient != nil {
		t.Errorf("root capabilities = %+v", c)
	}
	if !s.Root.Readonly || !s.Process.Terminal || s.Process.NoNewPrivileges {
		t.Errorf("readonly %v terminal %v nnp %v", s.Root.Readonly, s.Process.Terminal, s.Process.NoNewPrivileges)
	}
}

func TestGenerateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*Options)
		want   error
	}{
		{"unknown user", func(o *Options) { o.User = "mallory" }, ErrUnknownUser},
		{"unknown image user", func(o *Options) { o.Image.User = "mallory" }, ErrUnknownUser},
		{"no command", func(o *Options) { o.Image.Cmd = nil }, ErrInvalid},
		{"bad capability", func(o *Options) { o.CapAdd = []string{"CAP_FLY"} }, ErrInvalid},
		{"bad ulimit", func(o *Options) { o.Ulimits = []Ulimit{{Name: "wings"}} }, ErrInvalid},
		{"bad memory", func(o *Options) { o.Memory = 1 << 20 }, ErrInvalid},
		{"bad sysctl", func(o *Options) { o.Sysctls = map[string]string{"kernel.panic": "1"} }, ErrInvalid},
		{"bad stop signal", func(o *Options) { o.StopSignal = "SIGNOPE" }, ErrInvalid},
		{"relative mount", func(o *Options) { o.Tmpfs = map[string]string{"tmp": ""} }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := baseOptions()
			tt.mutate(&o)
			_, err := Generate(fakeRootfs(t, testPasswd, testGroup), o)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Generate: %v; want %v", err, tt.want)
			}
		})
	}
	if _, err := Generate("", baseOptions()); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty rootfs: %v", err)
	}
}

func TestGenerateDeterministic(t *testing.T) {
	t.Parallel()
	o := baseOptions()
	o.Labels = map[string]string{"a": "1", "b": "2", "c": "3"}
	o.Tmpfs = map[string]string{"/run": "", "/tmp": "size=1m", "/var/tmp": "", "/a/b": ""}
	o.Sysctls = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"}
	o.Ulimits = []Ulimit{{Name: "nproc", Soft: 10, Hard: 10}, {Name: "core", Soft: 0, Hard: 0}}
	o.CapAdd = []string{"NET_ADMIN", "SYS_PTRACE"}
	rootfs := fakeRootfs(t, testPasswd, testGroup)
	var first []byte
	for i := range 20 {
		s, err := Generate(rootfs, o)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = b
		} else if string(b) != string(first) {
			t.Fatalf("run %d differs:\n%s\n%s", i, first, b)
		}
	}
}

func TestStopSignal(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"": "SIGTERM", "SIGTERM": "SIGTERM", "term": "SIGTERM", "9": "SIGKILL", "SIGQUIT": "SIGQUIT",
		"RTMIN+3": "37", "SIGRTMAX-1": "63", "64": "64",
		"0": "", "65": "", "SIGNOPE": "", "RTMIN+x": "",
	}
	for in, want := range tests {
		got, err := normalizeSignal(in)
		if want == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("normalizeSignal(%q) = %q, %v; want ErrInvalid", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("normalizeSignal(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestAnnotations(t *testing.T) {
	t.Parallel()
	o := baseOptions()
	o.Image.Labels = map[string]string{"a": "image", "b": "image", AnnotationInit: "true"}
	o.Image.StopSignal = "SIGQUIT"
	o.Labels = map[string]string{"a": "user", AnnotationStopSignal: "forged"}
	s := generate(t, o)
	want := map[string]string{"a": "user", "b": "image", AnnotationStopSignal: "SIGQUIT"}
	if len(s.Annotations) != len(want) {
		t.Errorf("annotations %v, want %v", s.Annotations, want)
	}
	for k, v := range want {
		if s.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, s.Annotations[k], v)
		}
	}
	o.Init, o.StopSignal = true, "SIGUSR1"
	s = generate(t, o)
	if s.Annotations[AnnotationInit] != "true" || s.Annotations[AnnotationStopSignal] != "SIGUSR1" {
		t.Errorf("annotations %v", s.Annotations)
	}
}

func TestSysctls(t *testing.T) {
	t.Parallel()
	ok := []string{"net.ipv4.ip_forward", "net.core.somaxconn", "kernel.shmmax", "kernel.sem", "fs.mqueue.msg_max", "kernel.domainname"}
	bad := []string{"kernel.panic", "vm.swappiness", "fs.file-max", "kernel.shmmax2", "network.x", "fs.mqueue"}
	for _, k := range ok {
		if _, err := sysctls(map[string]string{k: "1"}); err != nil {
			t.Errorf("sysctl %s: %v", k, err)
		}
	}
	for _, k := range bad {
		if _, err := sysctls(map[string]string{k: "1"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("sysctl %s: %v, want ErrInvalid", k, err)
		}
	}
}
