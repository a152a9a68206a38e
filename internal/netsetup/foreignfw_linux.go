package netsetup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Docker's firewall, and hull's bridges on a host where it runs.
//
// Docker (with its iptables backend) sets the policy of the iptables
// filter table's FORWARD chain to DROP and accepts only its own bridges'
// traffic there. A packet must pass every table hooked to forwarding, so
// hull's bridges lose their way out, and with br_netfilter (whose
// bridge-nf-call-iptables sends bridged frames through iptables too)
// containers of one hull network cannot even talk to each other. Docker
// documents its DOCKER-USER chain, evaluated first, for rules of other
// programs; libvirt, LXD and netavark do the same kind of thing.
//
// So when a bridge is made, AcceptForeign looks for that table: with
// iptables-nft it is the nftables table "ip filter"; with iptables-legacy
// it lives in x_tables, which has no netlink interface, and hull runs
// iptables-legacy for exactly these rules (the one place hull shells out
// to iptables). If its FORWARD policy is drop, or DOCKER-USER exists, two
// rules accepting the bridge's traffic are inserted at the top of
// DOCKER-USER (else of FORWARD): "iifname BR accept", "oifname BR accept",
// commented with the bridge's owner tag like hull's own rules. Accepting
// there only ends that table's verdict: hull's own table still drops
// what its isolation forbids, as every table must accept a packet.
// RemoveBridge deletes them with the bridge's other rules.

const (
	foreignTable  = "filter"
	chainUser     = "DOCKER-USER"
	chainFwd      = "FORWARD"
	legacyNames   = "/proc/thread-self/net/ip_tables_names" // the calling thread's netns
	backendNft    = "iptables-nft"
	backendLegacy = "iptables-legacy"
)

var filterTable = &nftables.Table{Family: nftables.TableFamilyIPv4, Name: foreignTable}

// ForeignRules is what hull added to another program's firewall for one
// bridge (AcceptForeign, ListForeign).
type ForeignRules struct {
	// Rules are the rules added, as `iptables -S` prints them, each after
	// its backend: "iptables-nft: -A DOCKER-USER -i hull-0123456789 -j ACCEPT".
	Rules []string
	// Warning says why traffic of the bridge may still be dropped: a
	// firewall hull saw but could not change.
	Warning string
}

// AcceptForeign inserts, if the host's iptables filter table drops
// forwarded traffic (Docker's FORWARD policy DROP, or its DOCKER-USER
// chain), the rules accepting bridge's traffic there, tagged with owner;
// existing ones of owner are replaced. It reports what is in place.
func AcceptForeign(owner, bridge string) (ForeignRules, error) {
	if err := checkOwner(owner); err != nil {
		return ForeignRules{}, err
	}
	var out ForeignRules
	err := errors.Join(acceptNft(owner, bridge), acceptLegacy(owner, bridge, &out))
	found, lerr := ListForeign(owner)
	out.Rules = found.Rules
	if out.Warning == "" {
		out.Warning = found.Warning
	}
	return out, errors.Join(err, lerr)
}

// EnsureForeign adds owner's rules to the iptables-nft filter table if it
// drops forwarded traffic and they are missing there (Docker started
// after the bridge was made). Where nothing drops it costs a netlink
// socket and two requests (~0.2 ms here); iptables-legacy is left to
// AcceptForeign (it would cost running a program).
func EnsureForeign(owner, bridge string) error {
	target, err := nftTarget()
	if err != nil || target == "" {
		return err
	}
	rules, _, err := listTableRules(filterTable, []string{target})
	if err != nil || slices.ContainsFunc(rules, func(r ownedRule) bool { return r.comment == tagBridge+owner }) {
		return err
	}
	// Under the host lock, so that starts racing here add them once.
	unlock, err := LockHost()
	if err != nil {
		return err
	}
	defer unlock()
	return acceptNft(owner, bridge)
}

// ListForeign reports the rules of owner in the iptables filter table
// (both backends), read back from it. Warning is set when that table
// drops forwarded traffic and owner's rules are missing, or when the
// legacy table is in use and no iptables-legacy can read it.
func ListForeign(owner string) (ForeignRules, error) {
	var out ForeignRules
	tag := tagBridge + owner
	target, err := nftTarget()
	if err != nil {
		return out, err
	}
	for _, chain := range []string{chainUser, chainFwd} {
		rules, _, err := listTableRules(filterTable, []string{chain})
		if err != nil {
			return out, err
		}
		if !slices.ContainsFunc(rules, func(r ownedRule) bool { return r.comment == tag }) {
			continue
		}
		// Decode the expressions only here (Inspect, create).
		c, err := nftables.New()
		if err != nil {
			return out, err
		}
		full, err := c.GetRules(filterTable, &nftables.Chain{Name: chain, Table: filterTable})
		if err != nil {
			return out, fmt.Errorf("nftables: list ip %s %s: %w", foreignTable, chain, err)
		}
		for _, r := range full {
			if s, _ := userdata.GetString(r.UserData, userdata.TypeComment); s == tag {
				out.Rules = append(out.Rules, backendNft+": "+describeNft(chain, r.Exprs))
			}
		}
	}
	if target != "" && len(out.Rules) == 0 {
		out.Warning = fmt.Sprintf("%s: the table ip %s drops forwarded traffic (chain %s) and hull's rules accepting this bridge there are missing",
			backendNft, foreignTable, target)
	}
	if !legacyFilterInUse() {
		return out, nil
	}
	bin := legacyBinary()
	if bin == "" {
		out.Warning = legacyWarning
		return out, nil
	}
	n := len(out.Rules)
	for _, chain := range []string{chainUser, chainFwd} {
		lines, _ := legacyRules(bin, chain, tag)
		for _, l := range lines {
			out.Rules = append(out.Rules, backendLegacy+": "+l)
		}
	}
	if len(out.Rules) == n {
		if chain, err := legacyTarget(bin); err == nil && chain != "" {
			out.Warning = fmt.Sprintf("%s: the filter table drops forwarded traffic (chain %s) and hull's rules accepting this bridge there are missing",
				backendLegacy, chain)
		}
	}
	return out, nil
}

// legacyTarget is nftTarget for iptables-legacy.
func legacyTarget(bin string) (string, error) {
	if _, err := iptables(bin, "-S", chainUser); err == nil {
		return chainUser, nil
	}
	pol, err := iptables(bin, "-S", chainFwd)
	if err != nil || !strings.Contains(pol, "-P FORWARD DROP") {
		return "", err
	}
	return chainFwd, nil
}

// describeNft prints one of hull's accept rules as `iptables -S` does
// (without its comment).
func describeNft(chain string, exprs []expr.Any) string {
	dir, name := "", ""
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Meta:
			switch e.Key {
			case expr.MetaKeyIIFNAME:
				dir = "-i"
			case expr.MetaKeyOIFNAME:
				dir = "-o"
			}
		case *expr.Cmp:
			name = string(bytes.TrimRight(e.Data, "\x00"))
		}
	}
	return fmt.Sprintf("-A %s %s %s -j ACCEPT", chain, dir, name)
}

// nftTarget returns the chain of "ip filter" to put the accept rules in:
// DOCKER-USER if it exists, else FORWARD if it is a base chain dropping by
// policy; "" if neither (nothing drops hull's traffic there). It asks the
// kernel for those two chains only (a miss is one ENOENT reply): every
// attach runs it (EnsureForeign).
func nftTarget() (string, error) {
	conn, err := mnl.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return "", fmt.Errorf("nftables: %w", err)
	}
	defer conn.Close()
	get := func(chain string) ([]mnl.Message, error) {
		attrs, err := mnl.MarshalAttributes([]mnl.Attribute{
			{Type: unix.NFTA_CHAIN_TABLE, Data: []byte(foreignTable + "\x00")},
			{Type: unix.NFTA_CHAIN_NAME, Data: []byte(chain + "\x00")},
		})
		if err != nil {
			return nil, err
		}
		msgs, err := conn.Execute(mnl.Message{
			Header: mnl.Header{Type: mnl.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETCHAIN), Flags: mnl.Request},
			Data:   append([]byte{unix.NFPROTO_IPV4, unix.NFNETLINK_V0, 0, 0}, attrs...),
		})
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("nftables: get chain ip %s %s: %w", foreignTable, chain, err)
		}
		return msgs, nil
	}
	msgs, err := get(chainUser)
	if err != nil || len(msgs) > 0 {
		if err == nil {
			return chainUser, nil
		}
		return "", err
	}
	if msgs, err = get(chainFwd); err != nil || len(msgs) == 0 || len(msgs[0].Data) < 4 {
		return "", err
	}
	ad, err := mnl.NewAttributeDecoder(msgs[0].Data[4:])
	if err != nil {
		return "", err
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		// Only a base chain has a policy.
		if ad.Type() == unix.NFTA_CHAIN_POLICY && ad.Uint32() == uint32(nftables.ChainPolicyDrop) {
			return chainFwd, nil
		}
	}
	return "", ad.Err()
}

// acceptNft puts owner's accept rules at the top of nftTarget's chain,
// replacing those owner had there, in one atomic batch.
func acceptNft(owner, bridge string) error {
	var err error
	for range 5 {
		var chain string
		if chain, err = nftTarget(); err != nil || chain == "" {
			return err
		}
		var c *nftables.Conn
		if c, err = nftables.New(); err != nil {
			return err
		}
		if err = delForeignNft(c, owner); err != nil {
			return err
		}
		ud := userdata.AppendString(nil, userdata.TypeComment, tagBridge+owner)
		ref := &nftables.Chain{Name: chain, Table: filterTable}
		for _, key := range []expr.MetaKey{expr.MetaKeyOIFNAME, expr.MetaKeyIIFNAME} {
			c.InsertRule(&nftables.Rule{Table: filterTable, Chain: ref, UserData: ud,
				Exprs: slices.Concat(ifname(key, expr.CmpOpEq, bridge), []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}})})
		}
		if err = c.Flush(); err == nil {
			return nil
		}
	}
	return fmt.Errorf("nftables: accept %s in table ip %s: %w", bridge, foreignTable, err)
}

// delForeignNft queues the deletion of owner's rules in "ip filter" into
// c's batch.
func delForeignNft(c *nftables.Conn, owner string) error {
	tag := tagBridge + owner
	for _, chain := range []string{chainUser, chainFwd} {
		rules, _, err := listTableRules(filterTable, []string{chain})
		if err != nil {
			return err
		}
		for _, r := range rules {
			if r.comment == tag {
				if err := c.DelRule(r.rule); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// RemoveForeign deletes the rules AcceptForeign added for owner (a
// bridge's) to the iptables filter table, of both backends; none is not
// an error. RemoveBridge does it too.
func RemoveForeign(owner string) error { return removeForeign(owner) }

// removeForeign deletes owner's rules from the iptables filter table, of
// both backends; none is not an error.
func removeForeign(owner string) error {
	var errs []error
	for range 5 {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		if err = delForeignNft(c, owner); err == nil {
			if err = c.Flush(); err == nil {
				errs = nil
				break
			}
		}
		errs = []error{fmt.Errorf("nftables: remove %s from table ip %s: %w", owner, foreignTable, err)}
	}
	if legacyFilterInUse() {
		if bin := legacyBinary(); bin != "" {
			errs = append(errs, delLegacy(bin, tagBridge+owner))
		}
	}
	return errors.Join(errs...)
}

// --- iptables-legacy: x_tables has no netlink interface ---

const legacyWarning = "the iptables-legacy filter table is in use but no iptables-legacy binary was found: " +
	"if its FORWARD policy is DROP (Docker), accept this network's bridge there by hand"

// legacyFilterInUse reports whether x_tables' filter table exists in
// this network namespace. Reading the list loads no module (running
// iptables-legacy would).
func legacyFilterInUse() bool {
	data, err := os.ReadFile(legacyNames)
	return err == nil && slices.Contains(strings.Fields(string(data)), foreignTable)
}

// legacyBinary finds iptables-legacy, or iptables when it is the legacy
// variant; "" if none.
func legacyBinary() string {
	if p, err := exec.LookPath(backendLegacy); err == nil {
		return p
	}
	if p, err := exec.LookPath("iptables"); err == nil {
		if out, err := exec.Command(p, "--version").Output(); err == nil && strings.Contains(string(out), "legacy") {
			return p
		}
	}
	return ""
}

// iptables runs bin (an iptables-legacy) on the filter table, waiting for
// the xtables lock other iptables users hold.
func iptables(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, append([]string{"-w", "-t", foreignTable}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// legacyRules returns the rules of chain commented tag, as -S prints
// them; an error if the chain does not exist.
func legacyRules(bin, chain, tag string) ([]string, error) {
	out, err := iptables(bin, "-S", chain)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `--comment "`+tag+`"`) {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines, nil
}

// acceptLegacy is acceptNft for iptables-legacy. Without the binary,
// out.Warning says so and the bridge is made anyway.
func acceptLegacy(owner, bridge string, out *ForeignRules) error {
	if !legacyFilterInUse() {
		return nil
	}
	bin := legacyBinary()
	if bin == "" {
		out.Warning = legacyWarning
		return nil
	}
	chain, err := legacyTarget(bin)
	if err != nil || chain == "" {
		return err
	}
	tag := tagBridge + owner
	if err := delLegacy(bin, tag); err != nil {
		return err
	}
	for _, dir := range []string{"-o", "-i"} {
		if _, err := iptables(bin, "-I", chain, dir, bridge, "-m", "comment", "--comment", tag, "-j", "ACCEPT"); err != nil {
			return err
		}
	}
	return nil
}

// delLegacy deletes the rules commented tag from DOCKER-USER and FORWARD
// of the legacy filter table.
func delLegacy(bin, tag string) error {
	var errs []error
	for _, chain := range []string{chainUser, chainFwd} {
		lines, err := legacyRules(bin, chain, tag)
		if err != nil {
			continue // no such chain
		}
		for _, l := range lines {
			args := splitRule(l)
			if len(args) < 2 || args[0] != "-A" {
				continue
			}
			args[0] = "-D"
			if _, err := iptables(bin, args...); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// splitRule splits a line of `iptables -S` into arguments; a double-quoted
// argument (a comment: hull's have no quotes or backslashes) is one.
func splitRule(line string) []string {
	var args []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		if line[0] == '"' {
			end := strings.IndexByte(line[1:], '"')
			if end < 0 {
				return append(args, line[1:])
			}
			args = append(args, line[1:end+1])
			line = line[end+2:]
			continue
		}
		f, rest, _ := strings.Cut(line, " ")
		args = append(args, f)
		line = rest
	}
	return args
}
