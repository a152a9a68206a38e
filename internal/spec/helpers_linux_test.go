package spec

import (
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
# a comment, then a blank line

daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
alice:x:1000:1000:Alice:/home/alice:/bin/sh
nohome:x:1001:1001::::
broken:x:notanumber:1::/x:/bin/sh
`

const testGroup = `root:x:0:
wheel:x:10:root,alice
staff:x:50:alice,bob
alice:x:1000:
audio:x:29: alice , daemon
dup:x:10:alice
`

// fakeRootfs makes a rootfs holding /etc/passwd and /etc/group ("" leaves a file out).
func fakeRootfs(t testing.TB, passwd, group string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"passwd": passwd, "group": group} {
		if data == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(root, "etc", name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// baseOptions are options that Generate accepts, with a host whose rlimits are unlimited.
func baseOptions() Options {
	return Options{
		ID:          "0123456789abcdef0123",
		Image:       ocispec.ImageConfig{Cmd: []string{"/bin/sh"}},
		HostRlimits: func(int) (uint64, uint64, error) { return ^uint64(0), ^uint64(0), nil },
	}
}

// generate runs Generate on a fake rootfs and fails the test on error.
func generate(t *testing.T, o Options) *specs.Spec {
	t.Helper()
	s, err := Generate(fakeRootfs(t, testPasswd, testGroup), o)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return s
}
