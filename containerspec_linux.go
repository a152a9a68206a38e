package hull

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hullbox/hull/internal/archive"
	"github.com/hullbox/hull/internal/cgroup"
	"github.com/hullbox/hull/internal/spec"
	"github.com/hullbox/hull/internal/store"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// buildSpec makes the container's OCI spec with internal/spec (Docker's
// defaults and precedence). The rootfs exists only in the container's
// mount namespace, so the user is resolved in the image's layers
// (archive.LayerFS). etc holds the container's /etc files to bind in.
func buildSpec(id, rootfs string, img *Image, snaps []string, rc *runConfig, etc map[string]string) (*specs.Spec, error) {
	o := spec.Options{
		ID: id, Hostname: rc.hostname, Image: img.Config(),
		Cmd: rc.cmd, Entrypoint: rc.entrypoint, EntrypointSet: rc.entrySet,
		Env: rc.env, WorkingDir: rc.workdir, User: rc.user,
		Memory: rc.memory, PidsLimit: rc.pidsLimit,
		CgroupsPath: cgroup.Path(id),
		UserFS:      archive.LayerFS(snaps),
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
