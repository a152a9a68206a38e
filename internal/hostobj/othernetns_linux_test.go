package hostobj

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/cgroup"
	"github.com/hullbox/hull/internal/dns"
	"github.com/hullbox/hull/internal/netsetup"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// TestSweepOtherNetns: a gone root's bridge and rules made in another
// network namespace, which a process still has, are removed there: the
// sweep enters it.
func TestSweepOtherNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes a network namespace, a bridge and rules")
	}
	holder := exec.Command("unshare", "--net", "--", "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Skipf("cannot start a process in a network namespace of its own: %v", err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	path := "/proc/" + strconv.Itoa(holder.Process.Pid) + "/ns/net"
	var ino uint64
	for deadline := time.Now().Add(5 * time.Second); ; {
		// unshare enters its namespace a moment after it starts.
		if ino = nsInoOf(strconv.Itoa(holder.Process.Pid), "net"); ino != 0 && ino != nsIno("net") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the holder never entered a network namespace of its own")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()

	root := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	reg := At(t.TempDir())
	o, err := reg.Register(root)
	if err != nil {
		t.Fatal(err)
	}
	o.net = ino // made by a process in that namespace
	netID, ctrID := strings.Repeat("a", 64), strings.Repeat("c", 64)
	tag := RuleTag(root)
	if err := o.Network(netID, "hullsw0"); err != nil {
		t.Fatal(err)
	}
	if err := o.Container(ctrID); err != nil {
		t.Fatal(err)
	}
	subnet := netip.MustParsePrefix("10.87.0.0/24")
	err = dns.InNetns(ns, func() error {
		br := netsetup.Bridge{Name: "hullsw0", Network: netID, Subnet: subnet, Gateway: netip.MustParseAddr("10.87.0.1"), Owner: tag + ":hullsw0"}
		if _, err := br.Make(); err != nil {
			return err
		}
		return netsetup.Publish(tag+":"+ctrID, []netsetup.PortRule{{Proto: "tcp", HostPort: 12000, Addr: netip.MustParseAddr("10.87.0.2"), Port: 80}})
	})
	if err != nil {
		t.Fatal(err)
	}
	left := func() (out []string) {
		err := dns.InNetns(ns, func() error {
			links, err := netlink.LinkList()
			for _, l := range links {
				if l.Attrs().Alias == netID {
					out = append(out, "bridge "+l.Attrs().Name)
				}
			}
			ctrs, brs, oerr := netsetup.Owners()
			for _, owner := range append(ctrs, brs...) {
				if strings.HasPrefix(owner, tag+":") {
					out = append(out, "rule "+owner)
				}
			}
			return errors.Join(err, oerr)
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if l := left(); len(l) != 3 {
		t.Fatalf("made in the other namespace: %q, want a bridge and two owners' rules", l)
	}
	if err := os.Remove(root); err != nil {
		t.Fatal(err)
	}
	rep, err := reg.Sweep(Options{Cgroups: cgroup.V2(t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Bridges, []string{"hullsw0"}) || !slices.Equal(rep.Roots, []string{root}) {
		t.Errorf("Sweep = %+v", rep)
	}
	if l := left(); len(l) > 0 {
		t.Errorf("left in the other namespace: %q", l)
	}
}
