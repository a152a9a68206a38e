package spec

import (
	"os"
	"path/filepath"
	"strings"
)

// WriteEtcFiles writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf into its directory, whence they are bind-mounted.
func WriteEtcFiles(dir, hostname string) error {
	hosts := string(EtcHosts(hostname, "127.0.0.1"))
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

// EtcHosts is Docker's /etc/hosts: localhost, the IPv6 names, and the
// hostname at ip (the first network's address; 127.0.0.1 without one).
func EtcHosts(hostname, ip string) []byte {
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
