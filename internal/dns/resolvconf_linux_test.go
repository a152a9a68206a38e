package dns

import (
	"os"
	"path/filepath"
	"testing"
)

// TestResolvConf: a container's resolv.conf names only the embedded
// resolver and keeps the rest; the upstreams are the IPv4 nameservers
// that are not loopback ones.
func TestResolvConf(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nameserver 10.0.0.2\nsearch corp.example\n", "nameserver 127.0.0.11\nsearch corp.example\noptions ndots:0\n"},
		{"# host\nnameserver 10.0.0.2\nnameserver 10.0.0.3\noptions ndots:2 edns0\n", "nameserver 127.0.0.11\n# host\noptions ndots:2 edns0\n"},
		{"", "nameserver 127.0.0.11\noptions ndots:0\n"},
	} {
		if got := string(ResolvConf([]byte(tc.in))); got != tc.want {
			t.Errorf("ResolvConf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	os.WriteFile(conf, []byte("nameserver 127.0.0.53\nnameserver ::1\nnameserver 2001:db8::1\nnameserver 10.0.0.2\n"), 0o644)
	if ups, loop := Nameservers(conf); !loop || len(ups) != 1 || ups[0] != "10.0.0.2" {
		t.Errorf("nameservers = %v %v", ups, loop)
	}
}
