package hull

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hullbox/hull/internal/dns"
	"github.com/hullbox/hull/internal/initproc"
	"github.com/vishvananda/netns"
)

// The name service of an owned container (dns_linux.go says who serves
// which container): this process listens on 127.0.0.11:53 inside the
// container's network namespace, from the moment its init is attached to
// its networks until the init is reaped. A socket stays in the namespace
// it was made in, so only making the sockets (and the connections to the
// upstreams) needs a thread in that namespace.

// dnsFileName is the file in a container's directory that says its owner
// serves its DNS, and with which upstreams. Without it, the container's
// init serves (DNSConfig in its config) or no one does.
const dnsFileName = "dns.json"

type dnsFile struct {
	Upstreams []string `json:"upstreams"`
}

// writeDNSFile records that the owner of the container in dir serves its
// DNS, forwarding to ups.
func writeDNSFile(dir string, ups []string) error {
	return os.WriteFile(filepath.Join(dir, dnsFileName), mustJSON(dnsFile{Upstreams: ups}), 0o600)
}

// readDNSFile returns the upstreams of the container in dir, and false if
// its owner does not serve its DNS.
func readDNSFile(dir string) ([]string, bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, dnsFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var f dnsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, false, fmt.Errorf("%s: %w", dnsFileName, err)
	}
	return f.Upstreams, true, nil
}

// ownerDNS is the DNS a run of a container (a liveProcess) gets from its
// owner. Under the container's mu.
type ownerDNS struct {
	srv     *dns.NetnsServer
	stopped bool // the init is gone: serve no more
}

// serveDNS starts serving the container's DNS from this process, if this
// process owns its live init and the container's directory has a DNS file
// (enableDNS, connectDNS). It does nothing if it serves already, or once
// the init has been reaped. Create and respawn call it after
// attachNetworks; Connect after attaching a user-defined network.
func (c *Container) serveDNS() error {
	c.mu.Lock()
	lp, pid, start := c.lp, c.st.Pid, c.st.PidStart
	busy := lp == nil || c.st.Detached || lp.dns.srv != nil || lp.dns.stopped
	c.mu.Unlock()
	if busy {
		return nil
	}
	ups, ok, err := readDNSFile(c.rt.containerDir(c.id))
	if err != nil || !ok {
		return err
	}
	s, err := startDNSServer(pid, start, c.rt.namesPath(), c.id, ups)
	if err != nil {
		return fmt.Errorf("embedded DNS: %w", err)
	}
	c.mu.Lock()
	if lp.dns.srv != nil || lp.dns.stopped {
		c.mu.Unlock()
		s.Stop() // another serveDNS won, or the init is gone
		return nil
	}
	lp.dns.srv = s
	c.mu.Unlock()
	initproc.Trace("P dns served")
	return nil
}

// stopDNS stops the DNS this process serves for lp's run, if any, and
// closes its sockets (they hold the container's network namespace). The
// reaper calls it once the init has exited.
func (c *Container) stopDNS(lp *liveProcess) {
	c.mu.Lock()
	s := lp.dns.srv
	lp.dns.srv, lp.dns.stopped = nil, true
	c.mu.Unlock()
	if s != nil {
		s.Stop()
		initproc.Trace("P dns stopped")
	}
}

// startDNSServer serves the names of container self from the table at
// names, and other names from ups, on dns.Addr in the network namespace of
// pid (which must still be the process that started at start, not a
// reused pid), until Stop.
func startDNSServer(pid int, start uint64, names, self string, ups []string) (_ *dns.NetnsServer, retErr error) {
	ns, err := netns.GetFromPath("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		return nil, fmt.Errorf("container network namespace: %w", err)
	}
	if start == 0 || procStartTime(pid) != start {
		ns.Close()
		return nil, fmt.Errorf("container network namespace: %w: the container's init has exited", ErrConflict)
	}
	f, err := os.Open(names) // read-only: this server only reads the table
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("name table: %w", err)
	}
	return dns.ServeNetns(ns, dns.NewReader(f), self, ups)
}

// connectDNS gives the container the embedded DNS once it is on a
// user-defined network (Connect) if it had none: its resolv.conf names
// 127.0.0.11 from now on (forwarding to the nameservers it named), and
// its owner serves it, at once if this process owns the running init,
// else from its next start. A Detached container, or a running one that
// another process owns, keeps its resolv.conf (no one would serve it).
func (c *Container) connectDNS(running bool) error {
	c.mu.Lock()
	detached, owned := c.st.Detached, c.lp != nil
	c.mu.Unlock()
	if detached || running && !owned {
		return nil
	}
	dir := c.rt.containerDir(c.id)
	path := filepath.Join(dir, "resolv.conf")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !usesEmbeddedDNS(data) {
		t, err := c.rt.openNames() // so that it exists, initialised
		if err != nil {
			return fmt.Errorf("name table: %w", err)
		}
		t.Close()
		ups, loopback := nameservers(path)
		if len(ups) == 0 && loopback {
			ups = hostNameservers()
		}
		if err := writeDNSFile(dir, ups); err != nil {
			return err
		}
		// In place: the file is bind-mounted into the container.
		if err := os.WriteFile(path, dnsResolvConf(data), 0o644); err != nil {
			return err
		}
	}
	if !running {
		return nil
	}
	return c.serveDNS()
}

// usesEmbeddedDNS reports whether a container's resolv.conf names the
// embedded resolver.
func usesEmbeddedDNS(resolvConf []byte) bool {
	want := strings.TrimSuffix(dns.Addr, ":53")
	for _, line := range strings.Split(string(resolvConf), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" && f[1] == want {
			return true
		}
	}
	return false
}
