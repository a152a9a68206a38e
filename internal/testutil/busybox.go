package testutil

import (
	"archive/tar"
	"debug/elf"
	"os"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// busyboxPath is where Debian's busybox-static installs its binary.
const busyboxPath = "/bin/busybox"

// BusyboxApplets are the commands BusyboxFiles links to bin/busybox.
var BusyboxApplets = []string{
	"sh", "ls", "cat", "echo", "true", "false", "sleep", "env", "id", "touch",
	"mkdir", "rm", "wc", "grep", "ps", "hostname", "mount", "wget", "nslookup",
	"sed", "head", "tail", "stat", "df",
}

// DefaultPath is the PATH of BusyboxImage, Docker's default.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// BusyboxFiles returns a minimal root filesystem around the machine's static
// busybox: bin/busybox, a symlink per BusyboxApplets, etc/passwd and
// etc/group (root, nobody, and app with uid/gid 1000), and the directories
// tmp (1777), proc, sys, dev, etc, root and home/app (owned by 1000:1000).
// It skips the test when /bin/busybox is missing or not statically linked.
func BusyboxFiles(t testing.TB) []File {
	t.Helper()
	body, err := os.ReadFile(busyboxPath)
	if err != nil {
		t.Skip("busybox-static not installed: apt-get install busybox-static")
	}
	if !isStatic(busyboxPath) {
		t.Skip("/bin/busybox is not statically linked: apt-get install busybox-static")
	}
	dir := func(name string, mode int64, id int) File {
		return File{Name: name, Type: tar.TypeDir, Mode: mode, Uid: id, Gid: id}
	}
	files := []File{
		dir("bin/", 0o755, 0),
		dir("dev/", 0o755, 0),
		dir("etc/", 0o755, 0),
		dir("home/", 0o755, 0),
		dir("home/app/", 0o755, 1000),
		dir("proc/", 0o555, 0),
		dir("root/", 0o700, 0),
		dir("sys/", 0o555, 0),
		dir("tmp/", 0o1777, 0),
		{Name: "bin/busybox", Mode: 0o755, Body: body},
	}
	for _, a := range BusyboxApplets {
		files = append(files, File{Name: "bin/" + a, Type: tar.TypeSymlink, Linkname: "busybox"})
	}
	files = append(files,
		File{Name: "etc/passwd", Mode: 0o644, Body: []byte(
			"root:x:0:0:root:/root:/bin/sh\n" +
				"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n" +
				"app:x:1000:1000:app:/home/app:/bin/sh\n")},
		File{Name: "etc/group", Mode: 0o644, Body: []byte(
			"root:x:0:\n" +
				"nogroup:x:65534:\n" +
				"app:x:1000:\n")},
	)
	return files
}

// isStatic reports whether the ELF file at path has no program interpreter,
// i.e. runs without a dynamic loader from the image.
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// BusyboxImage returns an image of BusyboxFiles in one gzip layer, with
// Cmd ["sh"] and Docker's default PATH. It skips the test like BusyboxFiles.
func BusyboxImage(t testing.TB) Image {
	t.Helper()
	return Image{
		Layers: []Layer{{Files: BusyboxFiles(t), Compression: Gzip}},
		Config: ocispec.ImageConfig{
			Cmd: []string{"sh"},
			Env: []string{DefaultPath},
		},
	}
}
