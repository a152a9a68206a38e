package initproc

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestConfigRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	in := &Config{ID: "abc", Spec: &specs.Spec{Process: &specs.Process{Args: []string{"true"}}, Root: &specs.Root{Path: "/r"}}, Lowers: []string{"a/fs"}}
	if err := WriteConfig(&buf, in); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte(1) // the start byte must stay unread
	out, err := readConfig(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != "abc" || out.Spec.Process.Args[0] != "true" || out.Lowers[0] != "a/fs" {
		t.Errorf("got %+v", out)
	}
	if b, _ := buf.ReadByte(); b != 1 {
		t.Errorf("config read swallowed the start byte")
	}
	if _, err := readConfig(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff})); err == nil {
		t.Errorf("huge length accepted")
	}
}

func TestReportAndReadMessage(t *testing.T) {
	var buf bytes.Buffer
	code := report(&buf, &stageError{stage: "exec", code: 127, err: unix.ENOENT})
	if code != 127 {
		t.Errorf("code %d", code)
	}
	m, err := ReadMessage(bufio.NewReader(&buf))
	if err != nil || m.Type != "error" || m.Stage != "exec" || m.Code != 127 || m.Errno != int(unix.ENOENT) {
		t.Errorf("got %+v, %v", m, err)
	}
	if _, err := ReadMessage(bufio.NewReader(&buf)); !errors.Is(err, io.EOF) {
		t.Errorf("at the end: %v, want EOF", err)
	}
}

func TestParseMountOptions(t *testing.T) {
	for _, tc := range []struct {
		opts  []string
		flags uintptr
		data  string
	}{
		{[]string{"nosuid", "noexec", "nodev"}, unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV, ""},
		{[]string{"ro", "rw"}, 0, ""},
		{[]string{"rbind", "rprivate"}, unix.MS_BIND | unix.MS_REC | unix.MS_PRIVATE, ""},
		{[]string{"nosuid", "mode=755", "size=65536k"}, unix.MS_NOSUID, "mode=755,size=65536k"},
	} {
		flags, data := parseMountOptions(tc.opts)
		if flags != tc.flags || data != tc.data {
			t.Errorf("%v: %#x %q, want %#x %q", tc.opts, flags, data, tc.flags, tc.data)
		}
	}
}

func TestLookPath(t *testing.T) {
	if p, err := lookPath("sh", "/nonexistent:/bin"); err != nil || p != "/bin/sh" {
		t.Errorf("sh: %q %v", p, err)
	}
	var f *stepFailure
	if _, err := lookPath("no-such-cmd", "/bin"); !errors.As(err, &f) || f.at != failNotInPath {
		t.Errorf("missing: %v", err)
	}
	if _, err := lookPath("/etc/passwd", ""); err != nil {
		t.Errorf("a path is exec'd as is (execve says EACCES): %v", err)
	}
}
