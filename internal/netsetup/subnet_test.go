package netsetup

import (
	"net/netip"
	"strings"
	"testing"
)

// TestCheckSubnet: special blocks and sizes are refused with the rule
// named; ordinary subnets pass ParsePrefix and CheckSubnet.
func TestCheckSubnet(t *testing.T) {
	for _, tc := range []struct {
		subnet, rule string // rule: "" if allowed
	}{
		{"0.1.0.0/16", "unspecified"},
		{"127.1.2.0/24", "loopback"},
		{"239.255.0.0/16", "multicast"},
		{"255.255.255.252/30", "reserved"},
		{"128.0.0.0/1", "link-local"},
		{"8.0.0.0/7", "too large"},
		{"10.0.0.0/31", "too small"},
		{"10.0.0.1/24", "host bits set"},
		{"fd00::/64", "only IPv4"},
		{"10.0.0.0", "want an IPv4 CIDR"},
		{"10.0.0.0/8", ""},
		{"100.64.0.0/10", ""},
		{"10.1.2.0/30", ""},
	} {
		p, err := ParsePrefix("subnet", tc.subnet)
		if err == nil {
			err = CheckSubnet(p)
		}
		if tc.rule == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.subnet, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.rule) {
			t.Errorf("%s: %v; want an error naming %q", tc.subnet, err, tc.rule)
		}
	}
}

// TestCheckLayout: the gateway must be a host address of the subnet and
// the range inside it.
func TestCheckLayout(t *testing.T) {
	s := netip.MustParsePrefix("10.9.0.0/16")
	for _, tc := range []struct {
		subnet  netip.Prefix
		gateway string
		ipRange string
		want    string // "" if allowed
	}{
		{s, "10.9.0.1", "", ""},
		{s, "10.9.255.254", "10.9.4.0/22", ""},
		{s, "", "10.9.0.0/16", ""},
		{s, "10.10.0.1", "", "not in subnet"},
		{s, "10.9.0.0", "", "network address"},
		{s, "10.9.255.255", "", "broadcast address"},
		{netip.MustParsePrefix("10.9.0.0/30"), "10.9.0.3", "", "broadcast address"},
		{s, "", "10.10.0.0/24", "not inside"},
		{s, "", "10.8.0.0/15", "not inside"},
	} {
		var g netip.Addr
		var r netip.Prefix
		if tc.gateway != "" {
			g = netip.MustParseAddr(tc.gateway)
		}
		if tc.ipRange != "" {
			r = netip.MustParsePrefix(tc.ipRange)
		}
		err := CheckLayout(tc.subnet, g, r)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckLayout(%s, %s, %s) = %v; want %q", tc.subnet, tc.gateway, tc.ipRange, err, tc.want)
		}
	}
}
