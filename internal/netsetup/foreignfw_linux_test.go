package netsetup

import (
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// dockerRules reproduces, with the iptables CLI bin (iptables-nft or
// iptables-legacy), what Docker's iptables backend does to the filter
// table: FORWARD policy DROP, and (user) the DOCKER-USER chain that
// FORWARD jumps to first and that ends in RETURN. It skips t if bin is
// missing or cannot work here.
func dockerRules(t *testing.T, bin string, user bool) {
	t.Helper()
	if _, err := exec.LookPath(bin); err != nil {
		t.Skipf("%s is not installed", bin)
	}
	cmds := [][]string{{"-P", "FORWARD", "DROP"}}
	if user {
		cmds = append(cmds, []string{"-N", "DOCKER-USER"}, []string{"-A", "DOCKER-USER", "-j", "RETURN"},
			[]string{"-I", "FORWARD", "-j", "DOCKER-USER"})
	}
	for i, args := range cmds {
		if out, err := exec.Command(bin, append([]string{"-w"}, args...)...).CombinedOutput(); err != nil {
			if i == 0 {
				t.Skipf("%s cannot change the filter table here: %v: %s", bin, err, out)
			}
			t.Fatalf("%s %v: %v: %s", bin, args, err, out)
		}
	}
}

// iptablesS is `bin -S chain`; it fails t if bin says anything on stderr
// (iptables-nft warns about rules it cannot represent).
func iptablesS(t *testing.T, bin, chain string) []string {
	t.Helper()
	cmd := exec.Command(bin, "-w", "-S", chain)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("%s -S %s: %v: %s", bin, chain, err, stderr.String())
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestAcceptForeign: on a host whose filter table Docker set up (either
// iptables backend, with or without DOCKER-USER), Make adds exactly two
// rules accepting the bridge at the top of DOCKER-USER (else FORWARD),
// that iptables lists without complaint, idempotently; ListForeign reports
// them and warns once they are gone; RemoveBridge deletes only its
// owner's, RemoveOrphans (recovery) those of a dead owner.
func TestAcceptForeign(t *testing.T) {
	for _, tc := range []struct {
		bin, backend string
		user         bool
	}{
		{"iptables-nft", backendNft, true},
		{"iptables-nft", backendNft, false},
		{"iptables-legacy", backendLegacy, true},
		{"iptables-legacy", backendLegacy, false},
	} {
		chain := chainFwd
		if tc.user {
			chain = chainUser
		}
		t.Run(tc.bin+"/"+chain, func(t *testing.T) {
			inFreshNetns(t)
			dockerRules(t, tc.bin, tc.user)
			a := Bridge{Name: "hulltestfw0", Network: "net-a", Subnet: netip.MustParsePrefix("10.79.0.0/24"),
				Gateway: netip.MustParseAddr("10.79.0.1"), Owner: "t0:hulltestfw0"}
			b := Bridge{Name: "hulltestfw1", Network: "net-b", Subnet: netip.MustParsePrefix("10.79.1.0/24"),
				Gateway: netip.MustParseAddr("10.79.1.1"), Owner: "t1:hulltestfw1"}
			fw, err := a.Make()
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				tc.backend + ": -A " + chain + " -i hulltestfw0 -j ACCEPT",
				tc.backend + ": -A " + chain + " -o hulltestfw0 -j ACCEPT",
			}
			if tc.backend == backendLegacy {
				for i := range want {
					want[i] = strings.Replace(want[i], " -j", ` -m comment --comment "hull br t0:hulltestfw0" -j`, 1)
				}
			}
			if !slices.Equal(fw.Rules, want) || fw.Warning != "" {
				t.Errorf("Make reported %q (warning %q), want %q", fw.Rules, fw.Warning, want)
			}
			if _, err := b.Make(); err != nil {
				t.Fatal(err)
			}
			if _, err := AcceptForeign(a.Owner, a.Name); err != nil { // again: replaces
				t.Fatal(err)
			}
			lines := iptablesS(t, tc.bin, chain)
			var ours []string
			for _, l := range lines {
				if strings.Contains(l, "hull br t0:hulltestfw0") {
					ours = append(ours, l)
				}
			}
			if len(ours) != 2 || !slices.ContainsFunc(ours, func(l string) bool { return strings.Contains(l, "-i hulltestfw0 ") }) ||
				!slices.ContainsFunc(ours, func(l string) bool { return strings.Contains(l, "-o hulltestfw0 ") }) {
				t.Errorf("%s -S %s: want one -i and one -o rule of the bridge:\n%s", tc.bin, chain, strings.Join(lines, "\n"))
			}
			// Docker's own rules stay last: ours are at the top.
			if tc.user && lines[len(lines)-1] != "-A DOCKER-USER -j RETURN" {
				t.Errorf("DOCKER-USER does not end in Docker's RETURN:\n%s", strings.Join(lines, "\n"))
			}
			if err := RemoveBridge(a.Owner); err != nil {
				t.Fatal(err)
			}
			if err := RemoveBridge(a.Owner); err != nil {
				t.Fatalf("RemoveBridge twice: %v", err)
			}
			lines = iptablesS(t, tc.bin, chain)
			if s := strings.Join(lines, "\n"); strings.Contains(s, "t0:hulltestfw0") || strings.Count(s, "t1:hulltestfw1") != 2 {
				t.Errorf("after RemoveBridge of a, want only b's rules:\n%s", s)
			}
			got, err := ListForeign(a.Owner)
			if err != nil || len(got.Rules) != 0 || !strings.Contains(got.Warning, "missing") {
				t.Errorf("ListForeign of a removed bridge: %+v %v: want a warning that its rules are missing", got, err)
			}
			// Recovery of a dead owner's bridge drops them too.
			if err := RemoveOrphans("t1:", nil, nil); err != nil {
				t.Fatal(err)
			}
			if s := strings.Join(iptablesS(t, tc.bin, chain), "\n"); strings.Contains(s, "hull br") {
				t.Errorf("rules left:\n%s", s)
			}
			for _, br := range []Bridge{a, b} {
				if err := br.DeleteOwn(); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestAcceptForeignNoDocker: where the filter table does not drop
// forwarded traffic, or is not there, nothing is added to it (and nftables'
// "ip filter" is not created).
func TestAcceptForeignNoDocker(t *testing.T) {
	inFreshNetns(t)
	a := Bridge{Name: "hulltestfw0", Network: "net-a", Subnet: netip.MustParsePrefix("10.79.0.0/24"),
		Gateway: netip.MustParseAddr("10.79.0.1"), Owner: "t0:hulltestfw0"}
	fw, err := a.Make()
	if err != nil {
		t.Fatal(err)
	}
	defer a.DeleteOwn()
	defer RemoveBridge(a.Owner)
	if len(fw.Rules) != 0 || fw.Warning != "" {
		t.Errorf("Make without Docker reported %+v", fw)
	}
	if out, err := exec.Command("nft", "list", "tables").Output(); err == nil && strings.Contains(string(out), "ip filter") {
		t.Errorf("Make created the filter table: %s", out)
	}
	// A filter table that accepts: nothing either.
	if out, err := exec.Command("iptables-nft", "-w", "-P", "FORWARD", "ACCEPT").CombinedOutput(); err != nil {
		t.Skipf("iptables-nft: %v: %s", err, out)
	}
	if fw, err := AcceptForeign(a.Owner, a.Name); err != nil || len(fw.Rules) != 0 || fw.Warning != "" {
		t.Errorf("AcceptForeign with FORWARD accepting: %+v %v", fw, err)
	}
}
