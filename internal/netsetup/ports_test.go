package netsetup

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestParsePortSpec(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		spec string
		want PortSpec
	}{
		{"80", PortSpec{CtrLo: 80, CtrHi: 80, Proto: "tcp"}},
		{"80/udp", PortSpec{CtrLo: 80, CtrHi: 80, Proto: "udp"}},
		{"8080:80", PortSpec{HostLo: 8080, HostHi: 8080, CtrLo: 80, CtrHi: 80, Proto: "tcp"}},
		{"0:80", PortSpec{CtrLo: 80, CtrHi: 80, Proto: "tcp"}},
		{"127.0.0.1:8080:80/TCP", PortSpec{HostIP: lo, HostLo: 8080, HostHi: 8080, CtrLo: 80, CtrHi: 80, Proto: "tcp"}},
		{"127.0.0.1::80", PortSpec{HostIP: lo, CtrLo: 80, CtrHi: 80, Proto: "tcp"}},
		{"0.0.0.0:53:53/udp", PortSpec{HostLo: 53, HostHi: 53, CtrLo: 53, CtrHi: 53, Proto: "udp"}},
		{"8000-8001:80-81", PortSpec{HostLo: 8000, HostHi: 8001, CtrLo: 80, CtrHi: 81, Proto: "tcp"}},
		{"8000-8010:80", PortSpec{HostLo: 8000, HostHi: 8010, CtrLo: 80, CtrHi: 80, Proto: "tcp"}},
		{"80-82", PortSpec{CtrLo: 80, CtrHi: 82, Proto: "tcp"}},
		{"[::ffff:127.0.0.1]:1:2", PortSpec{HostIP: lo, HostLo: 1, HostHi: 1, CtrLo: 2, CtrHi: 2, Proto: "tcp"}},
	} {
		got, err := ParsePortSpec(tc.spec)
		tc.want.Raw = tc.spec
		if err != nil || got != tc.want {
			t.Errorf("ParsePortSpec(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
	for _, spec := range []string{
		"", "abc", "0", "65536", "80/sctp", "80/", "1:2:3:4", "x:80:80", "127.0.0.1:80",
		"8000-8002:80-81", "81-80", "80-", "-80", "[::1]:80:80", "[::1:80:80", "8080:0", "0-1:80", "80:80-81:",
		"999999:80", " 80",
	} {
		_, err := ParsePortSpec(spec)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", spec)) {
			t.Errorf("ParsePortSpec(%q): %v, want an error naming the spec", spec, err)
		}
	}
}
