package hull

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMountOverProcRefused: Create refuses a volume, bind or tmpfs over
// /proc or a path inside it that runc refuses (however the path is
// spelled), with ErrInvalidArgument and nothing left behind; an image
// VOLUME there too. A bind over one of runc's allowed files works.
func TestMountOverProcRefused(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	ctx := t.Context()
	volumeImage(t, rt, "procvol:test", nil, "/proc/../proc/")
	dir := t.TempDir()
	before := rootListing(t, rt.Root())
	for name, tc := range map[string]struct {
		ref string
		opt RunOption
	}{
		"bind /proc":         {"busybox:test", WithBind(dir, "/proc")},
		"bind //proc":        {"busybox:test", WithBind(dir, "//proc")},
		"bind /proc/":        {"busybox:test", WithBind(dir, "/proc/", WithReadOnly())},
		"bind /proc/../proc": {"busybox:test", WithBind(dir, "/proc/../proc")},
		"bind /proc/sys":     {"busybox:test", WithBind(dir, "/x/../proc//sys/")},
		"bind /proc/1/root":  {"busybox:test", WithBind(dir, "/proc/1/root")},
		"anonymous volume":   {"busybox:test", WithAnonymousVolume("/proc")},
		"tmpfs /proc":        {"busybox:test", WithTmpfs("/proc", "")},
		"tmpfs /proc/kcore":  {"busybox:test", WithTmpfs("/proc/./kcore", "")},
		"image VOLUME":       {"procvol:test", nil},
	} {
		opts := []RunOption{WithCmd("true")}
		if tc.opt != nil {
			opts = append(opts, tc.opt)
		}
		c, err := rt.Create(ctx, tc.ref, opts...)
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "/proc") {
			t.Errorf("%s: Create = %v, %v; want ErrInvalidArgument naming /proc", name, c, err)
		}
	}
	if cs, err := rt.Containers(ctx, WithAllContainers()); err != nil || len(cs) != 0 {
		t.Errorf("containers left: %v, %v", cs, err)
	}
	if vs, err := rt.Volumes(ctx); err != nil || len(vs) != 0 {
		t.Errorf("volumes left: %v, %v", vs, err)
	}
	// Create makes the predefined default network before it builds the
	// spec; that may stay (Docker's "bridge" always exists).
	notNet := func(p string) bool { return p == "networks" || strings.HasPrefix(p, "networks/") }
	after := slices.DeleteFunc(rootListing(t, rt.Root()), notNet)
	if before = slices.DeleteFunc(before, notNet); !slices.Equal(after, before) {
		t.Errorf("refused creates changed the root:\n%v\n%v", before, after)
	}
	f := filepath.Join(dir, "uptime")
	if err := os.WriteFile(f, []byte("42.00 7.00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runIn(t, rt, "busybox:test", "cat /proc/uptime", WithBind(f, "/proc//uptime", WithReadOnly()))
	if code != 0 || out != "42.00 7.00\n" {
		t.Errorf("bind over /proc/uptime: exit %d, %q", code, out)
	}
}
