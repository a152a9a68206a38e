package hulltest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/hullbox/hull"
)

// Network creates a network (a bridge with its own subnet) for the test and
// removes it when the test ends, after the test's containers. Containers
// joined to it with hull.WithNetwork(n, hull.WithAlias("db")) find each
// other by alias (and by container name), through hull's DNS; a container
// that joins only this network is on no other. Its name is made from the
// test's name and a random suffix, so parallel tests never clash; opts
// (hull.WithSubnet, hull.WithInternal...) are passed on.
func Network(t testing.TB, opts ...hull.NetworkOption) *hull.Network {
	t.Helper()
	rt := Runtime(t)
	name := networkName(t.Name())
	all := append([]hull.NetworkOption{hull.WithNetworkLabels(labels(t))}, opts...)
	n, err := rt.CreateNetwork(testContext(t), name, all...)
	if errors.Is(err, hull.ErrUnsupported) {
		t.Skipf("hulltest: create network: %v", err)
	}
	if err != nil {
		t.Fatalf("hulltest: create network %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := n.Remove(ctx); err != nil && !errors.Is(err, hull.ErrNotFound) {
			t.Errorf("hulltest: remove network %s: %v", name, err)
		}
	})
	return n
}

// networkName makes a valid, unique network name from a test name:
// "ht-" + its letters and digits (at most 40) + "-" + 8 random hex digits.
func networkName(test string) string {
	var b strings.Builder
	for _, r := range test {
		if b.Len() >= 40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var id [4]byte
	rand.Read(id[:])
	return "ht-" + b.String() + "-" + hex.EncodeToString(id[:])
}
