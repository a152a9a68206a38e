package hostobj

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hullbox/hull/internal/fsutil"
	"golang.org/x/sys/unix"
)

// Dir is the host's registry: on tmpfs, gone at boot as the objects are.
const Dir = "/run/hull/roots"

// Registry is a registry directory (Dir; tests use their own).
type Registry struct{ dir string }

// At is the registry in dir.
func At(dir string) *Registry { return &Registry{dir: dir} }

// rootRecord is an entry's root.json.
type rootRecord struct {
	Path string `json:"path"`
	Dev  uint64 `json:"dev"`
	Ino  uint64 `json:"ino"`
	// Birth is the directory's birth time (ns; 0 where the file system
	// has none): a file system may give a new directory the inode of
	// one just deleted (ext4 does).
	Birth int64  `json:"birth,omitempty"`
	MntNS uint64 `json:"mntns"` // the recorder's mount namespace (its inode)
	// Boot is the boot it was recorded in: where the registry is not on
	// tmpfs, an entry outlives the objects, and its namespaces mean
	// nothing in another boot.
	Boot string `json:"boot,omitempty"`
}

// bootID is this boot's ID ("" if unknown).
var bootID = sync.OnceValue(func() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
})

// Root is one root's entry, where its objects are recorded.
type Root struct {
	reg *Registry
	dir string
	rec rootRecord
	net uint64 // this process's network namespace (its inode), written with every record
}

// Register returns the entry of the root at path (absolute, existing),
// writing its root.json if it is not there yet.
func (r *Registry) Register(path string) (*Root, error) {
	id, err := identify(path)
	if err != nil {
		return nil, err
	}
	rec := rootRecord{Path: path, Dev: id.Dev, Ino: id.Ino, Birth: id.Birth, MntNS: nsIno("mnt"), Boot: bootID()}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d\x00%d", path, id.Dev, id.Ino, id.Birth))
	o := &Root{reg: r, dir: filepath.Join(r.dir, hex.EncodeToString(sum[:8])), rec: rec, net: nsIno("net")}
	file := filepath.Join(o.dir, "root.json")
	switch old := readRoot(o.dir); {
	case old.Path != "" && old.Boot == rec.Boot:
		return o, nil
	case old.Path != "":
		// Recorded in another boot (a registry not on tmpfs): what it
		// names went with that boot.
		_ = os.RemoveAll(o.dir)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	for try := 0; ; try++ {
		if err = os.MkdirAll(o.dir, 0o700); err == nil {
			err = fsutil.WriteFileAtomic(file, data, 0o600)
		}
		// A sweep may take a directory without root.json between the
		// two (a Register that died): make it again.
		if err == nil || try == 2 || !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("host registry: %w", err)
	}
	return o, nil
}

// A nil *Root (a registry that could not be written: not root) records
// nothing: its Container, Network and Forget calls do nothing.

// Key is the name of the root's entry.
func (o *Root) Key() string { return filepath.Base(o.dir) }

// Container records container id, whose cgroup, veths and rules this
// process is about to make. Call it before making any of them.
func (o *Root) Container(id string) error {
	if o == nil {
		return nil
	}
	return o.write("c."+id, "net "+strconv.FormatUint(o.net, 10))
}

// Network records network id, whose bridge device this process is about
// to make as bridge. Call it before making it (again, if its name
// changed).
func (o *Root) Network(id, bridge string) error {
	if o == nil {
		return nil
	}
	return o.write("n."+id, bridge+" "+strconv.FormatUint(o.net, 10))
}

// ForgetContainer drops container id's record: it is being removed.
func (o *Root) ForgetContainer(id string) error { return o.forget("c." + id) }

// ForgetNetwork drops network id's record: it is being removed.
func (o *Root) ForgetNetwork(id string) error { return o.forget("n." + id) }

func (o *Root) write(name, content string) error {
	if o == nil {
		return nil
	}
	path := filepath.Join(o.dir, name)
	if old, err := os.ReadFile(path); err == nil && string(old) == content {
		return nil
	}
	err := fsutil.WriteFileAtomic(path, []byte(content), 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		// A sweep took the entry: its root is gone, or looked so. The
		// entry is made again only for this very root (not one made
		// again at its path since).
		again, rerr := o.reg.Register(o.rec.Path)
		if rerr != nil {
			return fmt.Errorf("host registry: root %s: %w", o.rec.Path, rerr)
		}
		if again.dir != o.dir {
			return fmt.Errorf("host registry: root %s was deleted", o.rec.Path)
		}
		err = fsutil.WriteFileAtomic(path, []byte(content), 0o600)
	}
	if err != nil {
		return fmt.Errorf("host registry: %w", err)
	}
	return nil
}

func (o *Root) forget(name string) error {
	if o == nil {
		return nil
	}
	if err := os.Remove(filepath.Join(o.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("host registry: %w", err)
	}
	return nil
}

// nsIno is the inode of this process's namespace kind ("mnt", "net"), 0
// if unknown.
func nsIno(kind string) uint64 { return nsInoOf("self", kind) }

func nsInoOf(pid, kind string) uint64 {
	var st unix.Stat_t
	if unix.Stat("/proc/"+pid+"/ns/"+kind, &st) != nil {
		return 0
	}
	return st.Ino
}

// entry is a recorded root as a sweep reads it.
type entry struct {
	dir        string
	rec        rootRecord
	containers map[string]uint64  // id -> netns
	networks   map[string]netMark // id -> bridge, netns
}

type netMark struct {
	bridge string
	net    uint64
}

// readEntry reads the entry in dir; an entry without root.json (a
// Register that died) has a zero rec.
func readEntry(dir string) (*entry, error) {
	e := &entry{dir: dir, containers: map[string]uint64{}, networks: map[string]netMark{}}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		f := strings.Fields(string(data))
		switch name := n.Name(); {
		case name == "root.json":
			if err := json.Unmarshal(data, &e.rec); err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
			}
		case strings.HasPrefix(name, "c.") && len(f) == 2:
			e.containers[name[2:]], _ = strconv.ParseUint(f[1], 10, 64)
		case strings.HasPrefix(name, "n.") && len(f) == 2:
			ns, _ := strconv.ParseUint(f[1], 10, 64)
			e.networks[name[2:]] = netMark{bridge: f[0], net: ns}
		}
	}
	return e, nil
}

// readRoot reads the root.json of the entry in dir; zero if it has none
// (yet).
func readRoot(dir string) rootRecord {
	var rec rootRecord
	if data, err := os.ReadFile(filepath.Join(dir, "root.json")); err == nil {
		_ = json.Unmarshal(data, &rec)
	}
	return rec
}

// identity is what tells one directory from another made later at the
// same path.
type identity struct {
	Dev, Ino uint64
	Birth    int64
}

// identify returns path's identity (following symlinks).
func identify(path string) (identity, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_INO|unix.STATX_BTIME, &stx); err != nil {
		return identity{}, &os.PathError{Op: "statx", Path: path, Err: err}
	}
	id := identity{Dev: unix.Mkdev(stx.Dev_major, stx.Dev_minor), Ino: stx.Ino}
	if stx.Mask&unix.STATX_BTIME != 0 {
		id.Birth = stx.Btime.Sec*1e9 + int64(stx.Btime.Nsec)
	}
	return id, nil
}

// gone tells whether the entry's root is gone, as seen from here: its
// path missing, or holding another directory. A path that cannot be
// looked at (EACCES...) is not gone.
func (e *entry) gone() bool {
	var st unix.Stat_t
	if e.rec.Path == "" {
		// A Register under way, or one that died before root.json: it
		// recorded nothing, and goes once it is a minute old.
		return unix.Stat(e.dir, &st) == nil && time.Since(time.Unix(st.Mtim.Unix())) > time.Minute
	}
	id, err := identify(e.rec.Path)
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return true
	case err != nil:
		return false
	}
	return id != identity{Dev: e.rec.Dev, Ino: e.rec.Ino, Birth: e.rec.Birth}
}
