//go:build linux

package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// requirePrivateNetns skips tests that publish ports unless they run in a
// network namespace of their own (scripts/test.sh: unshare --net).
func requirePrivateNetns(t *testing.T) {
	t.Helper()
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Skipf("cannot list routes: %v", err)
	}
	for _, r := range routes {
		if r.Dst == nil {
			t.Skip("needs a private network namespace (this one has a default route): run inside `unshare --net`")
		}
	}
}

func TestPublishAndPort(t *testing.T) {
	root := busyboxRoot(t)
	requirePrivateNetns(t)
	r := hullCmd(t, root, nil, "run", "-p", "1:2:3:4", "busybox:test", "true")
	if r.code == 0 || !strings.Contains(r.stderr, `"1:2:3:4"`) {
		t.Errorf("bad -p: %+v", r)
	}
	// A network of its own (not the default one) so that nothing is left.
	mustHull(t, root, nil, "network", "create", "--subnet", "10.94.0.0/24", "pubnet")
	defer hullCmd(t, root, nil, "network", "rm", "pubnet")
	mustHull(t, root, nil, "run", "-d", "--name", "web", "--network", "pubnet", "-p", "127.0.0.1::80", "--publish", "18400:80/udp",
		"busybox:test", "sleep", "60")
	defer hullCmd(t, root, nil, "rm", "-f", "web")
	out := mustHull(t, root, nil, "port", "web").stdout
	if !regexp.MustCompile(`(?m)^80/tcp -> 127\.0\.0\.1:\d+$`).MatchString(out) || !strings.Contains(out, "80/udp -> 0.0.0.0:18400\n") {
		t.Errorf("hull port web:\n%s", out)
	}
	if out := mustHull(t, root, nil, "port", "web", "80/udp").stdout; out != "0.0.0.0:18400\n" {
		t.Errorf("hull port web 80/udp: %q", out)
	}
	if r := hullCmd(t, root, nil, "port", "web", "81"); r.code == 0 {
		t.Errorf("hull port web 81: %+v", r)
	}
	mustHull(t, root, nil, "rm", "-f", "web")
	mustHull(t, root, nil, "network", "rm", "pubnet")
}
