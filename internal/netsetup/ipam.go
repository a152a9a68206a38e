package netsetup

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"sort"

	"github.com/hullbox/hull/internal/fsutil"
)

// ErrExhausted reports that no subnet or address is left.
var ErrExhausted = errors.New("address space exhausted")

// ErrInUse reports a requested address that is already allocated.
var ErrInUse = errors.New("address in use")

// DefaultPools are the ranges new networks' subnets are carved from, as
// Docker's defaults: 172.17.0.0/16 ... 172.31.0.0/16, then /20s of
// 192.168.0.0/16.
var DefaultPools = []Pool{
	{Base: netip.MustParsePrefix("172.17.0.0/16"), Size: 16},
	{Base: netip.MustParsePrefix("172.18.0.0/15"), Size: 16},
	{Base: netip.MustParsePrefix("172.20.0.0/14"), Size: 16},
	{Base: netip.MustParsePrefix("172.24.0.0/13"), Size: 16},
	{Base: netip.MustParsePrefix("192.168.0.0/16"), Size: 20},
}

// Pool is a range subnets of one size are taken from.
type Pool struct {
	Base netip.Prefix
	Size int // prefix length of each subnet
}

// ChooseSubnet returns the first subnet from pools that overlaps none of
// used (host routes, other networks).
func ChooseSubnet(pools []Pool, used []netip.Prefix) (netip.Prefix, error) {
	for _, p := range pools {
		if p.Size < p.Base.Bits() || p.Size > 30 {
			continue
		}
		step := uint32(1) << (32 - p.Size)
		base := u32(p.Base.Masked().Addr())
		count := uint32(1) << (p.Size - p.Base.Bits())
		for i := uint32(0); i < count; i++ {
			cand := netip.PrefixFrom(addr(base+i*step), p.Size)
			if !overlapsAny(cand, used) {
				return cand, nil
			}
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free subnet in the default pools: %w", ErrExhausted)
}

func overlapsAny(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if u.IsValid() && u.Addr().Is4() && p.Overlaps(u) {
			return true
		}
	}
	return false
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func addr(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// IPAM hands out addresses of one IPv4 subnet. Its state is a JSON file
// guarded by a lock file next to it.
type IPAM struct {
	path string
}

type ipamState struct {
	Subnet    netip.Prefix          `json:"subnet"`
	Gateway   netip.Addr            `json:"gateway"`
	Range     netip.Prefix          `json:"range,omitempty"`
	Allocated map[netip.Addr]string `json:"allocated"` // address -> owner
	Last      netip.Addr            `json:"last,omitempty"`
}

// NewIPAM creates the state for a subnet at path (which must not exist).
// gateway defaults to the subnet's first address; ipRange (optional)
// restricts dynamic allocation to a sub-range, like `--ip-range`.
func NewIPAM(path string, subnet netip.Prefix, gateway netip.Addr, ipRange netip.Prefix) (*IPAM, error) {
	subnet = subnet.Masked()
	if !subnet.Addr().Is4() || subnet.Bits() > 30 {
		return nil, fmt.Errorf("subnet %s: want IPv4 with room for hosts (at most /30)", subnet)
	}
	if !gateway.IsValid() {
		gateway = addr(u32(subnet.Addr()) + 1)
	}
	if !subnet.Contains(gateway) || gateway == subnet.Addr() || gateway == broadcast(subnet) {
		return nil, fmt.Errorf("gateway %s is not a host address of %s", gateway, subnet)
	}
	if ipRange.IsValid() {
		ipRange = ipRange.Masked()
		if !subnet.Contains(ipRange.Addr()) || ipRange.Bits() < subnet.Bits() {
			return nil, fmt.Errorf("ip range %s is not inside %s", ipRange, subnet)
		}
	}
	st := ipamState{Subnet: subnet, Gateway: gateway, Range: ipRange, Allocated: map[netip.Addr]string{}}
	m := &IPAM{path: path}
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%s: %w", path, fs.ErrExist)
	}
	return m, m.save(&st)
}

// OpenIPAM opens existing state.
func OpenIPAM(path string) (*IPAM, error) {
	m := &IPAM{path: path}
	if _, err := m.load(); err != nil {
		return nil, err
	}
	return m, nil
}

func broadcast(p netip.Prefix) netip.Addr {
	return addr(u32(p.Addr()) | (1<<(32-p.Bits()) - 1))
}

func (m *IPAM) load() (*ipamState, error) {
	data, err := os.ReadFile(m.path)
	if err != nil {
		return nil, err
	}
	var st ipamState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", m.path, err)
	}
	if st.Allocated == nil {
		st.Allocated = map[netip.Addr]string{}
	}
	return &st, nil
}

func (m *IPAM) save(st *ipamState) error {
	data, err := json.MarshalIndent(st, "", "\t")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(m.path, data, 0o600)
}

// update runs fn on the state under the lock and saves the result.
func (m *IPAM) update(fn func(*ipamState) error) error {
	l, err := fsutil.LockFile(m.path+".lock", fsutil.Exclusive)
	if err != nil {
		return err
	}
	defer l.Unlock()
	st, err := m.load()
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	return m.save(st)
}

// Info returns the subnet and gateway.
func (m *IPAM) Info() (subnet netip.Prefix, gateway netip.Addr, err error) {
	st, err := m.load()
	if err != nil {
		return subnet, gateway, err
	}
	return st.Subnet, st.Gateway, nil
}

// Allocate gives owner an address: want if valid (ErrInUse if taken),
// else the next free one after the last handed out (so a just-released
// address is not reused at once, like Docker).
func (m *IPAM) Allocate(owner string, want netip.Addr) (netip.Addr, error) {
	var got netip.Addr
	err := m.update(func(st *ipamState) error {
		if want.IsValid() {
			if !st.usable(want) {
				return fmt.Errorf("address %s is not a host address of %s", want, st.Subnet)
			}
			if o, taken := st.Allocated[want]; taken {
				return fmt.Errorf("address %s (held by %s): %w", want, o, ErrInUse)
			}
			got = want
		} else {
			a, err := st.next()
			if err != nil {
				return err
			}
			got = a
			st.Last = a
		}
		st.Allocated[got] = owner
		return nil
	})
	return got, err
}

func (st *ipamState) usable(a netip.Addr) bool {
	return st.Subnet.Contains(a) && a != st.Subnet.Addr() && a != broadcast(st.Subnet) && a != st.Gateway
}

func (st *ipamState) next() (netip.Addr, error) {
	r := st.Subnet
	if st.Range.IsValid() {
		r = st.Range
	}
	first, last := u32(r.Addr()), u32(broadcast(r))
	n := last - first + 1
	start := first
	if st.Last.IsValid() && r.Contains(st.Last) {
		start = u32(st.Last) + 1
	}
	for i := uint32(0); i < n; i++ {
		v := start + i
		if v > last {
			v = first + (v - last - 1)
		}
		a := addr(v)
		if _, taken := st.Allocated[a]; !taken && st.usable(a) {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("subnet %s: %w", st.Subnet, ErrExhausted)
}

// Release frees every address owner holds.
func (m *IPAM) Release(owner string) error {
	return m.update(func(st *ipamState) error {
		for a, o := range st.Allocated {
			if o == owner {
				delete(st.Allocated, a)
			}
		}
		return nil
	})
}

// Allocations lists address -> owner, sorted by address.
func (m *IPAM) Allocations() ([]netip.Addr, map[netip.Addr]string, error) {
	st, err := m.load()
	if err != nil {
		return nil, nil, err
	}
	out := make([]netip.Addr, 0, len(st.Allocated))
	for a := range st.Allocated {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out, st.Allocated, nil
}

// ReleaseFrom frees every address owner holds in the IPAM files at paths.
// A file that is gone (its network removed meanwhile) is skipped, and one
// where owner holds nothing is not written.
func ReleaseFrom(paths []string, owner string) error {
	var errs []error
	for _, p := range paths {
		m, err := OpenIPAM(p)
		if err != nil {
			continue
		}
		_, owners, err := m.Allocations()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, o := range owners {
			if o == owner {
				errs = append(errs, m.Release(owner))
				break
			}
		}
	}
	return errors.Join(errs...)
}
