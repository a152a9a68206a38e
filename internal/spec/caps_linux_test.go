package spec

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestDefaultCapabilities(t *testing.T) {
	t.Parallel()
	want := []string{"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
		"SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"}
	got := defaultCaps
	if len(got) != len(want) || !slices.IsSorted(got) {
		t.Fatalf("defaultCaps = %q", got)
	}
	for _, c := range want {
		if !slices.Contains(got, "CAP_"+c) {
			t.Errorf("default set lacks CAP_%s", c)
		}
	}
}

func TestCapSet(t *testing.T) {
	t.Parallel()
	def := slices.Clone(defaultCaps)
	with := func(extra ...string) []string {
		s := append(slices.Clone(def), extra...)
		slices.Sort(s)
		return s
	}
	without := func(drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(def), func(c string) bool { return slices.Contains(drop, c) })
	}
	all := kernelCaps()
	tests := []struct {
		name      string
		add, drop []string
		want      []string
		err       bool
	}{
		{name: "default", want: def},
		{name: "add short name", add: []string{"NET_ADMIN"}, want: with("CAP_NET_ADMIN")},
		{name: "add lowercase prefixed", add: []string{"cap_sys_admin"}, want: with("CAP_SYS_ADMIN")},
		{name: "add a default is a no-op", add: []string{"CHOWN"}, want: def},
		{name: "drop", drop: []string{"chown", "CAP_NET_RAW"}, want: without("CAP_CHOWN", "CAP_NET_RAW")},
		{name: "drop then add the same", add: []string{"CHOWN"}, drop: []string{"CHOWN"}, want: def},
		{name: "drop ALL keeps adds", add: []string{"CHOWN", "NET_ADMIN"}, drop: []string{"ALL"}, want: []string{"CAP_CHOWN", "CAP_NET_ADMIN"}},
		{name: "drop ALL", drop: []string{"all"}, want: nil},
		{name: "add ALL minus drops", add: []string{"ALL"}, drop: []string{"SYS_ADMIN"},
			want: slices.DeleteFunc(slices.Clone(all), func(c string) bool { return c == "CAP_SYS_ADMIN" })},
		{name: "add ALL and drop ALL", add: []string{"ALL"}, drop: []string{"ALL"}, want: all},
		{name: "unknown add", add: []string{"FLY"}, err: true},
		{name: "unknown drop", drop: []string{"CAP_FLY"}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := capSet(false, tt.add, tt.drop)
			if tt.err {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("capSet = %q, %v; want ErrInvalid", got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("capSet = %q, %v\nwant %q", got, err, tt.want)
			}
		})
	}
}

func TestKernelCaps(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Skipf("no /proc/sys/kernel/cap_last_cap: %v", err)
	}
	last, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	want := min(last+1, len(capNames))
	if got := kernelCaps(); len(got) != want || !slices.IsSorted(got) || !slices.Contains(got, "CAP_SYS_ADMIN") {
		t.Errorf("kernelCaps() = %d caps %q; want %d", len(got), got, want)
	}
}

func TestPrivileged(t *testing.T) {
	t.Parallel()
	o := baseOptions()
	o.Privileged = true
	o.CapDrop = []string{"SYS_ADMIN"} // ignored, as in Docker
	s := generate(t, o)
	c := s.Process.Capabilities
	if !slices.Equal(c.Bounding, kernelCaps()) || !slices.Equal(c.Effective, c.Bounding) || !slices.Equal(c.Permitted, c.Bounding) {
		t.Errorf("privileged capabilities = %+v", c)
	}
	if s.Process.NoNewPrivileges {
		t.Error("privileged has no_new_privs")
	}
	l := s.Linux
	if l.Seccomp != nil || l.MaskedPaths != nil || l.ReadonlyPaths != nil {
		t.Errorf("privileged: seccomp %v masked %q readonly %q", l.Seccomp != nil, l.MaskedPaths, l.ReadonlyPaths)
	}
	d := l.Resources.Devices
	if len(d) != 1 || !d[0].Allow || d[0].Access != "rwm" || d[0].Type != "" || d[0].Major != nil {
		t.Errorf("privileged device rules %+v", d)
	}
	for _, m := range s.Mounts {
		if (m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup") && !slices.Contains(m.Options, "rw") {
			t.Errorf("privileged %s options %q", m.Destination, m.Options)
		}
	}
}
