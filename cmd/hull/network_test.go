//go:build linux

package main

import (
	"strings"
	"testing"
)

func TestNetworkCommands(t *testing.T) {
	root := busyboxRoot(t)
	requirePrivateNetns(t)
	id := strings.TrimSpace(mustHull(t, root, nil, "network", "create", "--subnet", "10.90.0.0/24", "--ip-range", "10.90.0.128/25",
		"--label", "team=a", "appnet").stdout)
	if len(id) != 64 {
		t.Fatalf("network create printed %q", id)
	}
	defer hullCmd(t, root, nil, "network", "rm", "appnet")
	if r := hullCmd(t, root, nil, "network", "create", "appnet"); r.code == 0 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("duplicate create: %+v", r)
	}
	if r := hullCmd(t, root, nil, "network", "create", "--subnet", "10.91.0.0", "bad"); r.code == 0 || !strings.Contains(r.stderr, "10.91.0.0") {
		t.Errorf("bad subnet: %+v", r)
	}
	if out := mustHull(t, root, nil, "network", "ls").stdout; !strings.Contains(out, id[:12]+"   appnet   bridge   local") {
		t.Errorf("network ls:\n%s", out)
	}
	out := mustHull(t, root, nil, "network", "inspect", "-f", "{{.Name}} {{(index .IPAM.Config 0).Subnet}} {{.Labels.team}}", "appnet").stdout
	if out != "appnet 10.90.0.0/24 a\n" {
		t.Errorf("network inspect: %q", out)
	}
	mustHull(t, root, nil, "run", "-d", "--name", "srv", "--network", "appnet", "--network-alias", "api", "busybox:test", "sleep", "60")
	defer hullCmd(t, root, nil, "rm", "-f", "srv")
	ip := strings.TrimSpace(mustHull(t, root, nil, "inspect", "-f", "{{.NetworkSettings.Networks.appnet.IPAddress}}", "srv").stdout)
	if !strings.HasPrefix(ip, "10.90.0.") {
		t.Errorf("container address %q", ip)
	}
	if r := hullCmd(t, root, nil, "network", "rm", "appnet"); r.code == 0 || !strings.Contains(r.stderr, "srv") {
		t.Errorf("rm while attached: %+v", r)
	}
	mustHull(t, root, nil, "network", "create", "other")
	defer hullCmd(t, root, nil, "network", "rm", "other")
	mustHull(t, root, nil, "network", "connect", "--alias", "x", "other", "srv")
	out = mustHull(t, root, nil, "inspect", "-f", "{{len .NetworkSettings.Networks}} {{index .NetworkSettings.Networks.other.Aliases 0}}", "srv").stdout
	if out != "2 x\n" {
		t.Errorf("after connect: %q", out)
	}
	mustHull(t, root, nil, "network", "disconnect", "other", "srv")
	out = mustHull(t, root, nil, "run", "--rm", "--network", "none", "busybox:test", "ls", "/sys/class/net").stdout
	if strings.TrimSpace(out) != "lo" {
		t.Errorf("--network none: %q", out)
	}
	out = mustHull(t, root, nil, "run", "--rm", "--network", "container:srv", "busybox:test", "cat", "/etc/hosts").stdout
	if !strings.Contains(out, ip+"\t") {
		t.Errorf("--network container:srv /etc/hosts: %q", out)
	}
	if r := hullCmd(t, root, nil, "run", "--rm", "--network", "nosuch", "busybox:test", "true"); r.code == 0 || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("unknown network: %+v", r)
	}
	if out := mustHull(t, root, nil, "network", "prune", "-f").stdout; out != "Deleted Networks:\nother\n" {
		t.Errorf("prune: %q", out)
	}
	mustHull(t, root, nil, "rm", "-f", "srv")
	if out := mustHull(t, root, nil, "network", "rm", "appnet").stdout; out != "appnet\n" {
		t.Errorf("rm: %q", out)
	}
}
