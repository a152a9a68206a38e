package dns

import (
	"bytes"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"strings"
)

// ResolvConf turns upstreamsConf (the resolv.conf a container would have
// had) into that of a container served by the embedded resolver: its
// only nameserver is Addr's, the search and other options are kept, and
// ndots:0 is added unless an ndots option is there (as Docker: a bare
// name is first asked as it is, which is what container names are).
func ResolvConf(upstreamsConf []byte) []byte {
	var b bytes.Buffer
	b.WriteString("nameserver " + strings.TrimSuffix(Addr, ":53") + "\n")
	ndots := false
	for _, line := range strings.Split(string(upstreamsConf), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "nameserver" {
			continue
		}
		if f[0] == "options" {
			for _, o := range f[1:] {
				ndots = ndots || strings.HasPrefix(o, "ndots:")
			}
		}
		b.WriteString(line + "\n")
	}
	if !ndots {
		b.WriteString("options ndots:0\n")
	}
	return b.Bytes()
}

// UsesEmbedded reports whether a resolv.conf names the embedded
// resolver.
func UsesEmbedded(resolvConf []byte) bool {
	want := strings.TrimSuffix(Addr, ":53")
	for _, line := range strings.Split(string(resolvConf), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" && f[1] == want {
			return true
		}
	}
	return false
}

// HostNameservers are the upstreams by default: the host's IPv4
// nameservers that are not loopback ones; under systemd-resolved (only
// loopback ones) those it forwards to.
func HostNameservers() []string {
	ups, loopback := Nameservers("/etc/resolv.conf")
	if len(ups) == 0 && loopback {
		ups, _ = Nameservers("/run/systemd/resolve/resolv.conf")
	}
	return ups
}

// Nameservers lists the usable (IPv4, not loopback) nameservers of the
// resolv.conf file at path, and whether it had loopback ones.
func Nameservers(path string) (ups []string, loopback bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		switch {
		case err != nil || !a.Is4():
		case a.IsLoopback():
			loopback = true
		default:
			ups = append(ups, a.String())
		}
	}
	return ups, loopback
}

// SetNameservers makes servers the nameservers of the resolv.conf file
// at path, as docker run --dns does; the rest of the file stays. No
// servers: the file is left as it is.
func SetNameservers(path string, servers []string) error {
	if len(servers) == 0 {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var b bytes.Buffer
	for _, s := range servers {
		b.WriteString("nameserver " + s + "\n")
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] != "nameserver" {
			b.WriteString(line + "\n")
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
