package netsetup

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
)

// TestBridgeMakeEnsureDelete: Make leaves a device that is the network's
// and its rules; Ensure makes it again once deleted; DeleteOwn leaves a
// device that another network has taken.
func TestBridgeMakeEnsureDelete(t *testing.T) {
	inFreshNetns(t)
	b := Bridge{Name: "hulltestbr0", Network: "net-a", Subnet: netip.MustParsePrefix("10.78.0.0/24"),
		Gateway: netip.MustParseAddr("10.78.0.1"), Owner: "t0:hulltestbr0"}
	if _, err := b.Make(); err != nil {
		t.Fatal(err)
	}
	if !b.Own() {
		t.Fatal("the bridge made is not the network's")
	}
	if _, bridges, err := Owners(); err != nil || !slices.Contains(bridges, b.Owner) {
		t.Errorf("rules owners %v, %v: want %s", bridges, err, b.Owner)
	}
	if err := DeleteLink(b.Name); err != nil {
		t.Fatal(err)
	}
	if err := b.Ensure(); err != nil || !b.Own() {
		t.Fatalf("Ensure after a delete: %v, own %v", err, b.Own())
	}
	other := b
	other.Network = "net-b"
	if other.Own() {
		t.Error("another network owns the device")
	}
	if err := other.DeleteOwn(); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(b.Name); err != nil {
		t.Fatalf("DeleteOwn of another network deleted the device: %v", err)
	}
	if err := b.DeleteOwn(); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(b.Name); err == nil {
		t.Error("DeleteOwn left the device")
	}
	if err := RemoveBridge(b.Owner); err != nil {
		t.Fatal(err)
	}
}
