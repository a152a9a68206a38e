package netsetup

import (
	"errors"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// HostVeth names the host end of a container's interface: "hv", 9 hex
// digits of the container's ID, the interface number (at most 14 bytes:
// the peer gets a "p" appended while it is created).
func HostVeth(id, ifName string) string {
	return "hv" + id[:9] + strings.TrimPrefix(ifName, "eth")
}

// DeleteLinksLater deletes the links named (host ends of veths) in the
// background, under wg. Deleting a veth waits for the kernel
// (synchronize_net; after the container's init died, for the teardown of
// its network namespace, which deletes the pair itself unless another
// container shares it): 10-15 ms that the start path of the next
// container need not pay. The links are looked up now, and deleted by
// index: a restart's new veth of the same name is never the one deleted.
// A link that is gone is no error.
func DeleteLinksLater(names []string, wg *sync.WaitGroup) error {
	var links []netlink.Link
	var errs []error
	for _, name := range names {
		l, err := netlink.LinkByName(name)
		var nf netlink.LinkNotFoundError
		switch {
		case errors.As(err, &nf):
		case err != nil:
			errs = append(errs, err)
		default:
			links = append(links, l)
		}
	}
	if len(links) == 0 {
		return errors.Join(errs...)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, l := range links {
			_ = netlink.LinkDel(l) // ENODEV: the namespace's teardown took it
		}
	}()
	return errors.Join(errs...)
}

// DeleteStaleVeths deletes the host veths (HostVeth's names) plugged into
// the bridges named (name -> network ID, which a bridge of hull's carries
// as its alias) whose container's ID is not in live: the kernel deletes
// them with the container's netns, but a moment later.
func DeleteStaleVeths(bridges map[string]string, live []string) error {
	links, err := netlink.LinkList()
	for i := 0; i < 5 && errors.Is(err, netlink.ErrDumpInterrupted); i++ {
		links, err = netlink.LinkList() // links changed during the dump: a netns going away
	}
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return err
	}
	masters := map[int]bool{}
	for _, l := range links {
		if id, ok := bridges[l.Attrs().Name]; ok && l.Attrs().Alias == id {
			masters[l.Attrs().Index] = true
		}
	}
	var errs []error
	for _, l := range links {
		name := l.Attrs().Name
		if !masters[l.Attrs().MasterIndex] || !strings.HasPrefix(name, "hv") || len(name) < 11 {
			continue
		}
		prefix, alive := name[2:11], false
		for _, id := range live {
			alive = alive || strings.HasPrefix(id, prefix)
		}
		if !alive {
			if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
