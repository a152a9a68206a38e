package spec

import (
	"errors"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func destinations(ms []specs.Mount) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Destination)
	}
	return out
}

func TestDefaultMounts(t *testing.T) {
	t.Parallel()
	s := generate(t, baseOptions())
	want := []string{"/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"}
	if got := destinations(s.Mounts); !slices.Equal(got, want) {
		t.Fatalf("mounts %q, want %q", got, want)
	}
	checks := map[string]struct {
		typ  string
		opts []string
	}{
		"/proc":          {"proc", []string{"nosuid", "noexec", "nodev"}},
		"/dev":           {"tmpfs", []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		"/dev/pts":       {"devpts", []string{"newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		"/sys":           {"sysfs", []string{"ro", "nosuid", "noexec", "nodev"}},
		"/sys/fs/cgroup": {"cgroup", []string{"ro", "nosuid", "noexec", "nodev"}},
		"/dev/mqueue":    {"mqueue", []string{"nosuid", "noexec", "nodev"}},
		"/dev/shm":       {"tmpfs", []string{"mode=1777", "size=65536k", "noexec"}},
	}
	for _, m := range s.Mounts {
		c := checks[m.Destination]
		if m.Type != c.typ {
			t.Errorf("%s type %q, want %q", m.Destination, m.Type, c.typ)
		}
		for _, o := range c.opts {
			if !slices.Contains(m.Options, o) {
				t.Errorf("%s options %q lack %q", m.Destination, m.Options, o)
			}
		}
	}
}

func TestTmpfsOptions(t *testing.T) {
	t.Parallel()
	tests := map[string][]string{
		"":                      {"rw", "noexec", "nosuid", "nodev"},
		"size=64m":              {"rw", "noexec", "nosuid", "nodev", "size=64m"},
		"exec,mode=1777":        {"rw", "nosuid", "nodev", "exec", "mode=1777"},
		"ro,size=1m,size=2m":    {"noexec", "nosuid", "nodev", "ro", "size=2m"},
		" suid , dev ,noexec,,": {"rw", "suid", "dev", "noexec"},
	}
	for in, want := range tests {
		if got := tmpfsOptions(in); !slices.Equal(got, want) {
			t.Errorf("tmpfsOptions(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUserMounts(t *testing.T) {
	t.Parallel()
	o := baseOptions()
	o.Tmpfs = map[string]string{"/run": "", "/data": "size=1m"}
	bindOpts := []string{"rbind", "ro"}
	o.Mounts = []specs.Mount{
		{Destination: "/data/sub/", Type: "bind", Source: "/host/sub", Options: bindOpts},
		{Destination: "/etc/hosts", Type: "bind", Source: "/host/hosts", Options: []string{"rbind"}},
		{Destination: "/dev/shm", Type: "bind", Source: "/host/shm", Options: []string{"rbind"}},
	}
	s := generate(t, o)
	// /dev/shm's default is replaced; the caller's mounts follow, parents first (stable
	// by depth): the tmpfs (sorted), then Mounts in the caller's order.
	want := []string{"/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue",
		"/data", "/run", "/data/sub", "/etc/hosts", "/dev/shm"}
	if got := destinations(s.Mounts); !slices.Equal(got, want) {
		t.Fatalf("mounts %q\nwant %q", got, want)
	}
	if m := s.Mounts[6]; m.Type != "tmpfs" || m.Source != "tmpfs" || !slices.Contains(m.Options, "size=1m") || !slices.Contains(m.Options, "noexec") {
		t.Errorf("tmpfs mount %+v", m)
	}
	s.Mounts[8].Options[0] = "changed"
	if bindOpts[0] != "rbind" {
		t.Error("Generate aliases the caller's mount options")
	}
}

func TestUserMountReplacesSubtree(t *testing.T) {
	t.Parallel()
	o := baseOptions()
	o.Mounts = []specs.Mount{{Destination: "/dev", Type: "bind", Source: "/host/dev", Options: []string{"rbind"}}}
	o.Tmpfs = map[string]string{"/sys/fs/cgroup": ""}
	got := destinations(generate(t, o).Mounts)
	want := []string{"/proc", "/sys", "/dev", "/sys/fs/cgroup"}
	if !slices.Equal(got, want) {
		t.Errorf("mounts %q, want %q", got, want)
	}
}

func TestUserMountErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]Options{
		"relative":     {Mounts: []specs.Mount{{Destination: "data", Type: "bind"}}},
		"root":         {Mounts: []specs.Mount{{Destination: "/", Type: "bind"}}},
		"duplicate":    {Mounts: []specs.Mount{{Destination: "/a", Type: "bind"}, {Destination: "/a/", Type: "bind"}}},
		"tmpfs + bind": {Tmpfs: map[string]string{"/a": ""}, Mounts: []specs.Mount{{Destination: "/a", Type: "bind"}}},
	}
	for name, o := range tests {
		if _, err := buildMounts(&o); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v; want ErrInvalid", name, err)
		}
	}
}

// TestProcMountDestinations: runc's rule for mounts over /proc, on the
// cleaned destination; the other destinations stay allowed (/sys, /dev
// and their paths too, as Docker's).
func TestProcMountDestinations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bind := func(dst, src string) specs.Mount {
		return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "rprivate"}}
	}
	tests := []struct {
		m  specs.Mount
		ok bool
	}{
		{bind("/proc", dir), false},
		{bind("//proc", dir), false},
		{bind("/proc/", dir), false},
		{bind("/proc/../proc", dir), false},
		{bind("/proc/./", dir), false},
		{bind("/x/../proc", dir), false},
		{bind("/proc/sys", dir), false},
		{bind("/proc/sys/kernel", dir), false},
		{bind("//proc//sys/", dir), false},
		{bind("/proc/self", dir), false},
		{bind("/proc/1/root", dir), false},
		{bind("/proc/net", dir), false},
		{bind("/proc/cpuinfo/x", dir), false},
		{specs.Mount{Destination: "/proc", Type: "tmpfs", Source: "tmpfs"}, false},
		{specs.Mount{Destination: "/proc/sys", Type: "tmpfs", Source: "tmpfs"}, false},
		{bind("/proc", "/proc"), true}, // a bind of a procfs, as runc allows
		{specs.Mount{Destination: "/proc", Type: "proc", Source: "proc"}, true},
		{bind("/proc/cpuinfo", dir), true},
		{bind("/proc/./meminfo", dir), true},
		{bind("/proc/net/dev", dir), true},
		{bind("/proc/sys/kernel/ns_last_pid", dir), true},
		{specs.Mount{Destination: "/proc/uptime", Type: "tmpfs", Source: "tmpfs"}, true},
		{bind("/procfs", dir), true},
		{bind("/proc2/x", dir), true},
		{bind("/sys", dir), true},
		{bind("/sys/kernel", dir), true},
		{bind("/dev/fuse", dir), true},
		{bind("/dev", dir), true},
		{bind("/data/proc", dir), true},
	}
	for _, tc := range tests {
		o := Options{Mounts: []specs.Mount{tc.m}}
		_, err := buildMounts(&o)
		if tc.ok && err != nil {
			t.Errorf("%s %s from %s: %v", tc.m.Type, tc.m.Destination, tc.m.Source, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s %s from %s: %v; want ErrInvalid", tc.m.Type, tc.m.Destination, tc.m.Source, err)
		}
	}
	for dst, ok := range map[string]bool{"/proc": false, "/proc/": false, "/proc/kcore": false, "/proc/stat": true} {
		o := Options{Tmpfs: map[string]string{dst: ""}}
		if _, err := buildMounts(&o); (err == nil) != ok || !ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("tmpfs %s: %v", dst, err)
		}
	}
}
