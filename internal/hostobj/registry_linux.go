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
	Path  string `json:"path"`
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	MntNS uint64 `json:"mntns"` // the recorder's mount namespace (its inode)
}

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
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	rec := rootRecord{Path: path, Dev: st.Dev, Ino: st.Ino, MntNS: nsIno("mnt")}
	sum := sha256.Sum256([]byte(path + "\x00" + strconv.FormatUint(st.Dev, 10) + "\x00" + strconv.FormatUint(st.Ino, 10)))
	o := &Root{reg: r, dir: filepath.Join(r.dir, hex.EncodeToString(sum[:8])), rec: rec, net: nsIno("net")}
	file := filepath.Join(o.dir, "root.json")
	if _, err := os.Stat(file); err == nil {
		return o, nil
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

// Key is the name of the root's entry.
func (o *Root) Key() string { return filepath.Base(o.dir) }

// Container records container id, whose cgroup, veths and rules this
// process is about to make. Call it before making any of them.
func (o *Root) Container(id string) error {
	return o.write("c."+id, "net "+strconv.FormatUint(o.net, 10))
}

// Network records network id, whose bridge device this process is about
// to make as bridge. Call it before making it (again, if its name
// changed).
func (o *Root) Network(id, bridge string) error {
	return o.write("n."+id, bridge+" "+strconv.FormatUint(o.net, 10))
}

// ForgetContainer drops container id's record: it is being removed.
func (o *Root) ForgetContainer(id string) error { return o.forget("c." + id) }

// ForgetNetwork drops network id's record: it is being removed.
func (o *Root) ForgetNetwork(id string) error { return o.forget("n." + id) }

func (o *Root) write(name, content string) error {
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
	err := unix.Stat(e.rec.Path, &st)
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return true
	case err != nil:
		return false
	}
	return st.Dev != e.rec.Dev || st.Ino != e.rec.Ino
}
