package spec

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const inf = unix.RLIM_INFINITY

// fakeHost reports the given hard limits (unlimited for resources not listed).
func fakeHost(hard map[int]uint64) func(int) (uint64, uint64, error) {
	return func(res int) (uint64, uint64, error) {
		if h, ok := hard[res]; ok {
			return h, h, nil
		}
		return inf, inf, nil
	}
}

func TestRlimits(t *testing.T) {
	t.Parallel()
	lowHost := fakeHost(map[int]uint64{unix.RLIMIT_NOFILE: 4096, unix.RLIMIT_NPROC: 2000})
	tests := []struct {
		name    string
		ulimits []Ulimit
		host    func(int) (uint64, uint64, error)
		want    []specs.POSIXRlimit
		err     bool
	}{
		{name: "default nofile", host: fakeHost(nil),
			want: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: DefaultNofile, Soft: DefaultNofile}}},
		{name: "default nofile clamped to a low host", host: lowHost,
			want: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 4096, Soft: 4096}}},
		{name: "every rlimit is clamped, soft to hard", host: lowHost,
			ulimits: []Ulimit{{Name: "nproc", Soft: 5000, Hard: 100000}, {Name: "nofile", Soft: 1024, Hard: 8192}},
			want: []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Hard: 4096, Soft: 1024},
				{Type: "RLIMIT_NPROC", Hard: 2000, Soft: 2000},
			}},
		{name: "unlimited, names sorted, RLIMIT_ prefix", host: lowHost,
			ulimits: []Ulimit{{Name: "RLIMIT_CORE", Soft: -1, Hard: -1}, {Name: "Memlock", Soft: 64, Hard: -1}, {Name: "nproc", Soft: -1, Hard: -1}},
			want: []specs.POSIXRlimit{
				{Type: "RLIMIT_CORE", Hard: inf, Soft: inf},
				{Type: "RLIMIT_MEMLOCK", Hard: inf, Soft: 64},
				{Type: "RLIMIT_NOFILE", Hard: 4096, Soft: 4096},
				{Type: "RLIMIT_NPROC", Hard: 2000, Soft: 2000},
			}},
		{name: "last of a name wins", host: fakeHost(nil),
			ulimits: []Ulimit{{Name: "nofile", Soft: 1, Hard: 1}, {Name: "nofile", Soft: 2, Hard: 3}},
			want:    []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 3, Soft: 2}}},
		{name: "soft above hard", host: fakeHost(nil), ulimits: []Ulimit{{Name: "nofile", Soft: 10, Hard: 5}}, err: true},
		{name: "unlimited soft, finite hard", host: fakeHost(nil), ulimits: []Ulimit{{Name: "nofile", Soft: -1, Hard: 5}}, err: true},
		{name: "unknown", host: fakeHost(nil), ulimits: []Ulimit{{Name: "files"}}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Ulimits: tt.ulimits, HostRlimits: tt.host}
			got, err := buildRlimits(&o)
			if tt.err {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("buildRlimits = %v, %v; want ErrInvalid", got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("buildRlimits = %v, %v\nwant %v", got, err, tt.want)
			}
		})
	}
}

func TestRlimitsHostError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	o := Options{HostRlimits: func(int) (uint64, uint64, error) { return 0, 0, boom }}
	if _, err := buildRlimits(&o); !errors.Is(err, boom) {
		t.Errorf("host error: %v", err)
	}
}

// The default HostRlimits is getrlimit: the default NOFILE never exceeds this process's.
func TestRlimitsDefaultHost(t *testing.T) {
	t.Parallel()
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	got, err := buildRlimits(&Options{})
	if err != nil || len(got) != 1 || got[0].Hard != min(r.Max, DefaultNofile) {
		t.Errorf("buildRlimits = %v, %v; host hard %d", got, err, r.Max)
	}
}

func TestMemory(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	tests := []struct {
		mem, swap            int64
		wantLimit, wantSwap  int64
		wantNil, wantInvalid bool
	}{
		{mem: 0, swap: 0, wantNil: true},
		{mem: 64 * mib, swap: 0, wantLimit: 64 * mib, wantSwap: 128 * mib},
		{mem: 64 * mib, swap: -1, wantLimit: 64 * mib, wantSwap: -1},
		{mem: 64 * mib, swap: 64 * mib, wantLimit: 64 * mib, wantSwap: 64 * mib},
		{mem: 64 * mib, swap: 100 * mib, wantLimit: 64 * mib, wantSwap: 100 * mib},
		{mem: 6 * mib, swap: 0, wantLimit: 6 * mib, wantSwap: 12 * mib},
		{mem: 6*mib - 1, wantInvalid: true},
		{mem: 64 * mib, swap: 32 * mib, wantInvalid: true},
		{mem: 64 * mib, swap: -2, wantInvalid: true},
		{mem: 0, swap: 64 * mib, wantInvalid: true},
		{mem: -1, wantInvalid: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%d", tt.mem, tt.swap), func(t *testing.T) {
			got, err := memory(tt.mem, tt.swap)
			switch {
			case tt.wantInvalid:
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("memory = %+v, %v; want ErrInvalid", got, err)
				}
			case tt.wantNil:
				if got != nil || err != nil {
					t.Fatalf("memory = %+v, %v; want nil", got, err)
				}
			case err != nil || *got.Limit != tt.wantLimit || *got.Swap != tt.wantSwap:
				t.Fatalf("memory = %+v, %v; want limit %d swap %d", got, err, tt.wantLimit, tt.wantSwap)
			}
		})
	}
}

func TestCPU(t *testing.T) {
	t.Parallel()
	n := float64(runtime.NumCPU())
	for cpus, want := range map[float64]int64{0.5: 50000, 0.29: 29000, 0.01: 1000, 1: 100000, n: int64(n) * 100000} {
		c, err := cpuLimits(&Options{CPUs: cpus})
		if err != nil || *c.Quota != want || *c.Period != 100000 || c.Shares != nil {
			t.Errorf("CPUs %g: %+v, %v; want quota %d", cpus, c, err, want)
		}
	}
	for _, cpus := range []float64{0.001, -1, n + 1} {
		if _, err := cpuLimits(&Options{CPUs: cpus}); !errors.Is(err, ErrInvalid) {
			t.Errorf("CPUs %g: %v; want ErrInvalid", cpus, err)
		}
	}
	c, err := cpuLimits(&Options{CPUShares: 512, CpusetCpus: "0", CpusetMems: "0"})
	if err != nil || *c.Shares != 512 || c.Cpus != "0" || c.Mems != "0" || c.Quota != nil {
		t.Errorf("shares/cpuset: %+v, %v", c, err)
	}
	if c, err := cpuLimits(&Options{}); c != nil || err != nil {
		t.Errorf("no CPU options: %+v, %v", c, err)
	}
}

func TestResourcesInSpec(t *testing.T) {
	t.Parallel()
	o := baseOptions()
	o.Memory, o.CPUs, o.PidsLimit = 256<<20, 0.5, 100
	r := generate(t, o).Linux.Resources
	if *r.Memory.Limit != 256<<20 || *r.Memory.Swap != 512<<20 || *r.CPU.Quota != 50000 || *r.Pids.Limit != 100 {
		t.Errorf("resources %+v %+v %+v", r.Memory, r.CPU, r.Pids)
	}
	o.PidsLimit = -1
	if r := generate(t, o).Linux.Resources; r.Pids != nil {
		t.Errorf("pids limit -1: %+v", r.Pids)
	}
}

func TestDeviceRules(t *testing.T) {
	t.Parallel()
	rules := deviceRules(false)
	if rules[0].Allow || rules[0].Access != "rwm" || rules[0].Type != "" {
		t.Fatalf("first rule must deny all: %+v", rules[0])
	}
	allowed := func(typ string, major, minor int64, access string) bool {
		ok := false
		for _, r := range rules {
			if (r.Type == "" || r.Type == typ) && (r.Major == nil || *r.Major == major) &&
				(r.Minor == nil || *r.Minor == minor) && containsAll(r.Access, access) {
				ok = r.Allow
			}
		}
		return ok
	}
	for _, d := range [][2]int64{{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}, {136, 7}, {10, 200}} {
		if !allowed("c", d[0], d[1], "rwm") {
			t.Errorf("c %d:%d not allowed", d[0], d[1])
		}
	}
	if !allowed("b", 8, 0, "m") || !allowed("c", 4, 1, "m") {
		t.Error("mknod not allowed")
	}
	if allowed("b", 8, 0, "r") || allowed("c", 4, 1, "rw") || allowed("c", 10, 229, "rw") {
		t.Error("a host device is readable")
	}
}

func containsAll(have, want string) bool {
	for _, c := range want {
		if !slices.Contains([]rune(have), c) {
			return false
		}
	}
	return true
}
