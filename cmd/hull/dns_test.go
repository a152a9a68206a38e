//go:build linux

package main

import (
	"strings"
	"testing"
)

// TestRunDNS: --dns sets the nameservers of the resolv.conf on the default
// network; on a user-defined network the resolv.conf names the embedded
// resolver (which forwards to them); a bad address is refused.
func TestRunDNS(t *testing.T) {
	root := busyboxRoot(t)
	requirePrivateNetns(t)
	out := mustHull(t, root, nil, "run", "--rm", "--dns", "192.0.2.53", "--dns", "192.0.2.54", "busybox:test", "cat", "/etc/resolv.conf").stdout
	if !strings.HasPrefix(out, "nameserver 192.0.2.53\nnameserver 192.0.2.54\n") || strings.Count(out, "nameserver") != 2 {
		t.Errorf("--dns on the default network: %q", out)
	}
	mustHull(t, root, nil, "network", "create", "dnsnet")
	defer hullCmd(t, root, nil, "network", "rm", "dnsnet")
	out = mustHull(t, root, nil, "run", "--rm", "--network", "dnsnet", "--dns", "192.0.2.53", "busybox:test", "cat", "/etc/resolv.conf").stdout
	if !strings.HasPrefix(out, "nameserver 127.0.0.11\n") || strings.Count(out, "nameserver") != 1 {
		t.Errorf("--dns on a user-defined network: %q", out)
	}
	if r := hullCmd(t, root, nil, "run", "--rm", "--dns", "dns.example", "busybox:test", "true"); r.code != 125 || !strings.Contains(r.stderr, "dns.example") {
		t.Errorf("bad --dns: %+v", r)
	}
}
