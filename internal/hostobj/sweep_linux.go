package hostobj

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hullbox/hull/internal/cgroup"
	"github.com/hullbox/hull/internal/dns"
	"github.com/hullbox/hull/internal/fsutil"
	"github.com/hullbox/hull/internal/netsetup"
	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// RuleTag is the tag of the root at path in the owners of its nftables
// rules ("<tag>:<container id or bridge>"): 8 hex digits of the path's
// sha256, so that several roots can share a network namespace.
func RuleTag(path string) string {
	sum := sha256.Sum256([]byte(path))
	return hex.EncodeToString(sum[:4])
}

// Options says what a Sweep does.
type Options struct {
	Self       *Root      // the caller's root: never swept, and not a reason to look (nil: none)
	Cgroups    *cgroup.FS // where containers' cgroups are (nil: cgroup.Host())
	Unrecorded bool       // also judge hull's cgroups no entry names (package doc)
	// UnrecordedAge is how long ago an unrecorded cgroup must have been
	// made to go (0: a minute): a hull from before the registry may be
	// about to put a process in it.
	UnrecordedAge time.Duration
}

// Report is what a Sweep removed.
type Report struct {
	Roots      []string // the paths of the gone roots whose entries were dropped
	Containers []string // the containers whose cgroups were removed
	Bridges    []string // the bridge devices deleted
}

// Sweep removes the objects of the recorded roots that are gone, and
// their entries (see the package doc). It returns what it removed and
// what failed; what failed stays recorded.
func (r *Registry) Sweep(opts Options) (Report, error) {
	var rep Report
	names, err := r.entries()
	if err != nil {
		return rep, err
	}
	s := sweep{opts: opts, rep: &rep, mnt: nsIno("mnt"), net: nsIno("net")}
	self := func(name string) bool { return opts.Self != nil && name == opts.Self.Key() }
	if !opts.Unrecorded && !slices.ContainsFunc(names, func(name string) bool {
		// Only root.json read, without the lock: what Open pays when
		// no root is gone.
		return !self(name) && s.gone(&entry{dir: filepath.Join(r.dir, name), rec: readRoot(filepath.Join(r.dir, name))})
	}) {
		return rep, nil
	}
	l, err := fsutil.LockFile(filepath.Join(r.dir, ".lock"), fsutil.CreateDir)
	if err != nil {
		return rep, fmt.Errorf("host registry: %w", err)
	}
	defer l.Unlock()
	if opts.Cgroups == nil {
		s.opts.Cgroups = cgroup.Host()
	}
	// The cgroups first, the records after: a container recorded after
	// this list was taken has no cgroup in it (records come first).
	var cgroups []string
	if opts.Unrecorded {
		cgroups = s.opts.Cgroups.IDs()
	}
	if names, err = r.entries(); err != nil {
		return rep, err
	}
	var gone []*entry
	live := map[string]bool{} // paths of roots that exist
	known := map[string]bool{}
	var errs []error
	for _, name := range names {
		e, err := readEntry(filepath.Join(r.dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for id := range e.containers {
			known[id] = true
		}
		if self(name) || !s.gone(e) {
			live[e.rec.Path] = true
			continue
		}
		gone = append(gone, e)
	}
	for _, e := range gone {
		if e.rec.Boot != bootID() && e.rec.Path != "" {
			// Recorded in another boot (a registry not on tmpfs): its
			// objects went with that boot.
			errs = append(errs, s.drop(e))
			continue
		}
		errs = append(errs, s.entry(e, !live[e.rec.Path]))
	}
	for _, id := range cgroups {
		if !known[id] {
			errs = append(errs, s.unrecorded(id))
		}
	}
	return rep, errors.Join(errs...)
}

// entries lists the registry's entries.
func (r *Registry) entries() ([]string, error) {
	des, err := os.ReadDir(r.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("host registry: %w", err)
	}
	var out []string
	for _, d := range des {
		if d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
			out = append(out, d.Name())
		}
	}
	return out, nil
}

// sweep is one Sweep's work.
type sweep struct {
	opts     Options
	rep      *Report
	mnt, net uint64                    // the sweeper's namespaces
	holders  map[string]map[uint64]int // "mnt"/"net" -> namespace -> a process in it (nsHolders)
	shims    map[string][]int          // container id -> its shims' pids (read once)
}

// gone tells whether e's root is gone (entry.gone) as far as the
// sweeper can judge from its own view of paths: e was recorded in its
// mount namespace, or in one that no process has any more. The path is
// looked at first: a root that is plainly there costs a stat, not the
// scan of /proc that judging another namespace's record takes (Open runs
// this for every recorded root; most exist).
func (s *sweep) gone(e *entry) bool {
	if !e.gone() {
		return false
	}
	return e.rec.MntNS == 0 || e.rec.Boot != bootID() || e.rec.MntNS == s.mnt || s.holder("mnt", e.rec.MntNS) == 0
}

// procScans counts holder's reads of /proc (TestSweepCost).
var procScans atomic.Int64

// holder returns a process in namespace ino of kind ("mnt", "net"), or 0;
// /proc is read once per kind. hull's own processes ("hull-shim <id>"...)
// do not count for a mount namespace: a Detached container's shim keeps
// its creator's, but never opens a root.
func (s *sweep) holder(kind string, ino uint64) int {
	if s.holders == nil {
		s.holders = map[string]map[uint64]int{}
	}
	m, ok := s.holders[kind]
	if !ok {
		procScans.Add(1)
		m = map[uint64]int{}
		pids, _ := os.ReadDir("/proc")
		for _, p := range pids {
			pid, err := strconv.Atoi(p.Name())
			if err != nil {
				continue
			}
			n := nsInoOf(p.Name(), kind)
			if n == 0 || m[n] != 0 {
				continue
			}
			if kind == "mnt" {
				if args, _ := os.ReadFile("/proc/" + p.Name() + "/cmdline"); bytes.HasPrefix(args, []byte("hull-")) {
					continue
				}
			}
			m[n] = pid
		}
		s.holders[kind] = m
	}
	return m[ino]
}

// entry removes the objects of a gone root and its entry; whole says no
// existing root has its path (its rule tag is free: every rule with it
// goes, recorded or not).
func (s *sweep) entry(e *entry, whole bool) error {
	var errs []error
	byNet := map[uint64]*netObjects{}
	at := func(ns uint64) *netObjects {
		if byNet[ns] == nil {
			byNet[ns] = &netObjects{networks: map[string]string{}}
		}
		return byNet[ns]
	}
	// All killed first, then each cgroup removed once its tasks left:
	// their deaths overlap.
	for id := range e.containers {
		s.kill(id)
	}
	for id, ns := range e.containers {
		errs = append(errs, s.removeCgroup(id))
		at(ns).containers = append(at(ns).containers, id)
	}
	for id, m := range e.networks {
		at(m.net).networks[id] = m.bridge
	}
	if whole && e.rec.Path != "" {
		at(s.net).wholeTag = true // rules of unrecorded objects: here at least
	}
	for ns, objs := range byNet {
		objs.tag = RuleTag(e.rec.Path)
		errs = append(errs, s.inNet(ns, objs.remove))
	}
	if e.rec.Path != "" {
		errs = append(errs, unmountBelow(e.rec.Path))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sweep root %s: %w", e.rec.Path, err)
	}
	return s.drop(e)
}

// drop removes a swept entry.
func (s *sweep) drop(e *entry) error {
	if err := os.RemoveAll(e.dir); err != nil {
		return fmt.Errorf("sweep root %s: %w", e.rec.Path, err)
	}
	if e.rec.Path != "" {
		s.rep.Roots = append(s.rep.Roots, e.rec.Path)
	}
	return nil
}

// kill kills container id's shim and what runs in its cgroup.
func (s *sweep) kill(id string) {
	for _, pid := range s.shimsOf(id) {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	if cg := s.opts.Cgroups.Load(id); cg != nil {
		_ = cg.Kill()
	}
}

// removeCgroup removes container id's cgroup, killed first (kill).
func (s *sweep) removeCgroup(id string) error {
	cg := s.opts.Cgroups.Load(id)
	if cg == nil {
		return nil
	}
	if err := cg.RemoveSettled(); err != nil {
		return err
	}
	s.rep.Containers = append(s.rep.Containers, id)
	return nil
}

// unrecorded removes the cgroup of container id, which no entry names,
// if nothing runs in it and it is over a minute old (package doc).
func (s *sweep) unrecorded(id string) error {
	age := s.opts.UnrecordedAge
	if age == 0 {
		age = time.Minute
	}
	cg := s.opts.Cgroups.Load(id)
	if cg == nil || cg.Age() < age {
		return nil
	}
	if pids, err := cg.Procs(); err != nil || len(pids) > 0 {
		return nil
	}
	if cg.Remove() == nil { // busy (a process came meanwhile): left
		s.rep.Containers = append(s.rep.Containers, id)
	}
	return nil
}

// shimsOf returns the pids of the shims of container id ("hull-shim
// <id>", internal/spawn), reading /proc once.
func (s *sweep) shimsOf(id string) []int {
	if s.shims == nil {
		s.shims = map[string][]int{}
		pids, _ := os.ReadDir("/proc")
		for _, p := range pids {
			pid, err := strconv.Atoi(p.Name())
			if err != nil {
				continue
			}
			args, _ := os.ReadFile("/proc/" + p.Name() + "/cmdline")
			if f := bytes.Split(bytes.TrimSuffix(args, []byte{0}), []byte{0}); len(f) == 2 && string(f[0]) == "hull-shim" {
				s.shims[string(f[1])] = append(s.shims[string(f[1])], pid)
			}
		}
	}
	return s.shims[id]
}

// inNet runs fn in network namespace ns: here if it is the sweeper's
// (or unknown), in a thread that enters it if another process has it;
// if none has, the namespace is gone with everything in it.
func (s *sweep) inNet(ns uint64, fn func(*Report) error) error {
	if ns == 0 || ns == s.net {
		return fn(s.rep)
	}
	pid := s.holder("net", ns)
	if pid == 0 {
		return nil
	}
	h, err := netns.GetFromPath("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		return err
	}
	defer h.Close()
	var st unix.Stat_t
	if unix.Fstat(int(h), &st) != nil || st.Ino != ns {
		return nil // that process left it: gone (or another holder, next sweep)
	}
	return dns.InNetns(h, func() error { return fn(s.rep) })
}

// netObjects are a gone root's objects in one network namespace.
type netObjects struct {
	tag        string
	containers []string
	networks   map[string]string // network id -> its bridge
	wholeTag   bool              // also every other rule with tag
}

// remove deletes the objects' rules, host veths and bridges in the
// calling thread's network namespace.
func (o *netObjects) remove(rep *Report) error {
	var errs []error
	owners := map[string]bool{}
	for _, id := range o.containers {
		owners[o.tag+":"+id] = true
	}
	for id, br := range o.networks {
		// Its name may have gone to another root since: then so did the
		// owner of its rules, if that root has the same path.
		if alias, exists := netsetup.LinkAlias(br); !exists || alias == id {
			owners[o.tag+":"+br] = true
			// And what it added to Docker's filter table.
			errs = append(errs, netsetup.RemoveForeign(o.tag+":"+br))
		}
	}
	errs = append(errs, netsetup.RemoveOwned(func(owner string) bool {
		return owners[owner] || o.wholeTag && strings.HasPrefix(owner, o.tag+":")
	}))
	links, err := netlink.LinkList()
	for i := 0; i < 5 && errors.Is(err, netlink.ErrDumpInterrupted); i++ {
		links, err = netlink.LinkList()
	}
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, l := range links {
		a := l.Attrs()
		_, isBridge := l.(*netlink.Bridge)
		del := isBridge && o.networks[a.Alias] != ""
		if !isBridge && strings.HasPrefix(a.Name, "hv") && len(a.Name) >= 11 {
			del = slices.ContainsFunc(o.containers, func(id string) bool { return strings.HasPrefix(id, a.Name[2:11]) })
		}
		if !del {
			continue
		}
		if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("delete link %s: %w", a.Name, err))
		} else if isBridge {
			rep.Bridges = append(rep.Bridges, a.Name)
		}
	}
	return errors.Join(errs...)
}

// unmountBelow lazily unmounts whatever is mounted at or below path in
// the sweeper's mount namespace, deepest first.
func unmountBelow(path string) error {
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(path))
	if err != nil || len(ms) == 0 {
		return err
	}
	slices.SortFunc(ms, func(a, b *mountinfo.Info) int { return len(b.Mountpoint) - len(a.Mountpoint) })
	var errs []error
	for _, m := range ms {
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m.Mountpoint, err))
		}
	}
	return errors.Join(errs...)
}
