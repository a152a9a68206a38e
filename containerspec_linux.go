package hull

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hullbox/hull/internal/cgroup"
	"github.com/hullbox/hull/internal/spec"
	"github.com/hullbox/hull/internal/store"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// buildSpec makes the container's OCI spec with internal/spec (Docker's
// defaults and precedence). The rootfs exists only in the container's
// mount namespace, so the user is resolved in the image's layers
// (layerFS). etc holds the container's /etc files to bind in.
func buildSpec(id, rootfs string, img *Image, snaps []string, rc *runConfig, etc map[string]string) (*specs.Spec, error) {
	o := spec.Options{
		ID: id, Hostname: rc.hostname, Image: img.Config(),
		Cmd: rc.cmd, Entrypoint: rc.entrypoint, EntrypointSet: rc.entrySet,
		Env: rc.env, WorkingDir: rc.workdir, User: rc.user,
		Memory: rc.memory, PidsLimit: rc.pidsLimit,
		CgroupsPath: cgroup.Path(id),
		UserFS:      layerFS(snaps),
	}
	rc.opts.specOptions(&o)
	o.Mounts = append(o.Mounts, rc.specMounts()...)
	o.TTY = rc.stdio.tty
	for _, dst := range slices.Sorted(maps.Keys(etc)) {
		o.Mounts = append(o.Mounts, specs.Mount{Destination: dst, Type: "bind", Source: etc[dst], Options: []string{"rbind", "rprivate"}})
	}
	sp, err := spec.Generate(rootfs, o)
	if errors.Is(err, spec.ErrInvalid) || errors.Is(err, spec.ErrUnknownUser) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return sp, err
}

// layerFS is a read-only view of an image's layers (snapshot dirs, top
// first) for the few files read before the rootfs exists (/etc/passwd,
// /etc/group): a name is looked up in the union, as the container's
// overlay will see it: the topmost layer that has a component gives it,
// a whiteout hides it, and symlinks are followed through the union, an
// absolute one from the image's root and ".." never above it (Docker
// reads /etc/passwd -> /etc/passwd.real). Each layer is an os.Root, so
// nothing is read outside it. TODO: opaque directories are not honoured.
type layerFS []string

func (l layerFS) Open(name string) (fs.File, error) {
	root, path, err := l.resolve("open", name)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Open(path)
}

// Stat makes layerFS an fs.StatFS, so that a reader checks what a name is before it
// opens it: opening a FIFO (a hostile image's etc/passwd) would block for ever.
func (l layerFS) Stat(name string) (fs.FileInfo, error) {
	root, path, err := l.resolve("stat", name)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Lstat(path)
}

// maxLinks bounds the symlinks one lookup follows, as the kernel's 40.
const maxLinks = 40

// resolve follows name through the union of the layers, one component at
// a time, and returns the topmost layer that holds what it names and the
// path there, which has no symlink left. The caller closes the root.
func (l layerFS) resolve(op, name string) (*os.Root, string, error) {
	todo := strings.Split(name, "/")
	var cur []string // resolved components
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) > 0 {
				cur = cur[:len(cur)-1]
			}
			continue
		}
		next := strings.Join(append(cur, c), "/")
		root, fi := l.layer(next)
		if root == nil {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if len(todo) == 0 {
				return root, next, nil
			}
			root.Close()
			cur = append(cur, c)
			continue
		}
		target, err := root.Readlink(next)
		root.Close()
		if err != nil {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: err}
		}
		if links++; links > maxLinks {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: unix.ELOOP}
		}
		if strings.HasPrefix(target, "/") {
			cur = nil
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	// name was the root itself.
	for _, dir := range l {
		if root, err := os.OpenRoot(dir); err == nil {
			return root, ".", nil
		}
	}
	return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

// layer opens the topmost layer that has name (a path without symlinks
// but maybe its last component) and returns it with name's Lstat there;
// nil when none has it or a whiteout deletes it. The caller closes it.
func (l layerFS) layer(name string) (*os.Root, fs.FileInfo) {
	for _, dir := range l {
		root, err := os.OpenRoot(dir)
		if err != nil {
			continue
		}
		fi, err := root.Lstat(name)
		if err != nil {
			root.Close()
			continue
		}
		if fi.Mode()&fs.ModeCharDevice != 0 && fi.Mode()&fs.ModeDevice != 0 {
			root.Close()
			return nil, nil // a whiteout: deleted in this layer
		}
		return root, fi
	}
	return nil, nil
}

// writeEtcFiles writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf into its directory, whence they are bind-mounted.
func writeEtcFiles(dir, hostname string) error {
	hosts := string(etcHosts(hostname, "127.0.0.1"))
	files := map[string][]byte{
		"hostname":    []byte(hostname + "\n"),
		"hosts":       []byte(hosts),
		"resolv.conf": resolvConf(),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// etcHosts is Docker's /etc/hosts: localhost, the IPv6 names, and the
// hostname at ip (the first network's address; 127.0.0.1 without one).
func etcHosts(hostname, ip string) []byte {
	return []byte("127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n" +
		ip + "\t" + hostname + "\n")
}

// resolvConf is the host's /etc/resolv.conf without loopback nameservers,
// which mean nothing in the container's network namespace (Docker drops
// them too).
func resolvConf() []byte {
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" && (strings.HasPrefix(f[1], "127.") || f[1] == "::1") {
			continue
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, "\n"))
}

func holdFor(st *containerState) store.Hold {
	return store.Hold{ID: st.ID, Image: st.ImageDigest, Snapshots: st.ChainIDs}
}
