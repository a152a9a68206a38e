package hull

import (
	"errors"
	"strings"
	"testing"
)

// TestNetworkSubnetRules: the subnets no network may have, whatever the
// host, are refused by the option itself (ErrInvalidArgument), with the
// rule named; ordinary ones pass.
func TestNetworkSubnetRules(t *testing.T) {
	for _, tc := range []struct {
		subnet, rule string // rule: "" if allowed
	}{
		{"0.0.0.0/0", "unspecified"},
		{"0.0.0.0/8", "unspecified"},
		{"0.1.0.0/16", "unspecified"},
		{"127.0.0.0/8", "loopback"},
		{"127.1.2.0/24", "loopback"},
		{"224.0.0.0/24", "multicast"},
		{"239.255.0.0/16", "multicast"},
		{"240.0.0.0/8", "reserved"},
		{"255.255.255.252/30", "reserved"},
		{"169.254.0.0/16", "link-local"},
		{"169.254.10.0/24", "link-local"},
		{"128.0.0.0/1", "link-local"},
		{"32.0.0.0/3", "too large"},
		{"8.0.0.0/7", "too large"},
		{"10.0.0.0/31", "too small"},
		{"10.0.0.1/32", "too small"},
		{"10.0.0.0/8", ""},
		{"172.30.0.0/16", ""},
		{"192.168.7.0/24", ""},
		{"100.64.0.0/10", ""},
		{"10.1.2.0/30", ""},
		{"1.2.3.0/24", ""},
	} {
		var c networkConfig
		err := WithSubnet(tc.subnet)(&c)
		if tc.rule == "" {
			if err != nil {
				t.Errorf("WithSubnet(%s): %v", tc.subnet, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.rule) {
			t.Errorf("WithSubnet(%s): %v; want ErrInvalidArgument naming %q", tc.subnet, err, tc.rule)
		}
	}
}

// TestNetworkGatewayRangeRules: a gateway or IP range that does not fit
// the subnet is refused before anything is made.
func TestNetworkGatewayRangeRules(t *testing.T) {
	for _, tc := range []struct {
		opts []NetworkOption
		want string // "" if allowed
	}{
		{[]NetworkOption{WithSubnet("10.9.0.0/16"), WithGateway("10.9.0.1")}, ""},
		{[]NetworkOption{WithSubnet("10.9.0.0/16"), WithGateway("10.9.255.254"), WithIPRange("10.9.4.0/22")}, ""},
		{[]NetworkOption{WithSubnet("10.9.0.0/16"), WithIPRange("10.9.0.0/16")}, ""},
		{[]NetworkOption{WithSubnet("10.9.0.0/16"), WithGateway("10.10.0.1")}, "not in subnet"},
		{[]NetworkOption{WithSubnet("10.9.0.0/16"), WithGateway("10.9.0.0")}, "network address"},
		{[]NetworkOption{WithSubnet("10.9.0.0/16"), WithGateway("10.9.255.255")}, "broadcast address"},
		{[]NetworkOption{WithSubnet("10.9.0.0/30"), WithGateway("10.9.0.3")}, "broadcast address"},
		{[]NetworkOption{WithSubnet("10.9.0.0/16"), WithIPRange("10.10.0.0/24")}, "not inside"},
		{[]NetworkOption{WithSubnet("10.9.0.0/16"), WithIPRange("10.8.0.0/15")}, "not inside"},
		{[]NetworkOption{WithGateway("10.9.0.1")}, "needs a subnet"},
		{[]NetworkOption{WithIPRange("10.9.0.0/24")}, "needs a subnet"},
	} {
		var c networkConfig
		for _, o := range tc.opts {
			if err := o(&c); err != nil {
				t.Fatal(err)
			}
		}
		err := c.check()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", c, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want ErrInvalidArgument with %q", c, err, tc.want)
		}
	}
}
