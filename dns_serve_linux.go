package hull

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hullbox/hull/internal/dns"
	"github.com/hullbox/hull/internal/initproc"
)

// The name service of an owned container (dns_linux.go says who serves
// which container): this process listens on 127.0.0.11:53 inside the
// container's network namespace (internal/dns.ServeProcess), from the
// moment its init is attached to its networks until the init is reaped.

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
	ups, ok, err := dns.ReadServeFile(c.rt.containerDir(c.id))
	if err != nil || !ok {
		return err
	}
	alive := func() bool { return start != 0 && procStartTime(pid) == start }
	s, err := dns.ServeProcess(pid, alive, c.rt.namesPath(), c.id, ups)
	if err != nil {
		return fmt.Errorf("embedded DNS: %w", alsoIs(err, dns.ErrExited, ErrConflict))
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
	if !dns.UsesEmbedded(data) {
		if err := dns.Create(c.rt.namesPath()); err != nil {
			return fmt.Errorf("name table: %w", err)
		}
		ups, loopback := dns.Nameservers(path)
		if len(ups) == 0 && loopback {
			ups = dns.HostNameservers()
		}
		if err := dns.WriteServeFile(dir, ups); err != nil {
			return err
		}
		// In place: the file is bind-mounted into the container.
		if err := os.WriteFile(path, dns.ResolvConf(data), 0o644); err != nil {
			return err
		}
	}
	if !running {
		return nil
	}
	return c.serveDNS()
}
