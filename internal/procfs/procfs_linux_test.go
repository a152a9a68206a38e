package procfs

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestReadProcess reads this test process: its pid, parent, UID and
// command line, started after boot and before now.
func TestReadProcess(t *testing.T) {
	boot := BootTime()
	if boot.IsZero() {
		t.Fatal("no btime in /proc/stat")
	}
	p, err := ReadProcess(os.Getpid(), boot)
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != os.Getpid() || p.PPID != os.Getppid() || p.UID != os.Getuid() {
		t.Errorf("got pid %d ppid %d uid %d", p.PID, p.PPID, p.UID)
	}
	if !strings.Contains(p.Cmd, os.Args[0]) {
		t.Errorf("cmd %q lacks %q", p.Cmd, os.Args[0])
	}
	if p.Started.Before(boot) || p.Started.After(time.Now().Add(time.Second)) {
		t.Errorf("started %v, boot %v", p.Started, boot)
	}
}

// TestTTYName names tty_nr values as ps does.
func TestTTYName(t *testing.T) {
	for nr, want := range map[int]string{0: "?", 136<<8 | 3: "pts/3", 137<<8 | 1: "pts/257", 4<<8 | 2: "tty2", 4<<8 | 70: "?", 5<<8 | 1: "?"} {
		if got := ttyName(nr); got != want {
			t.Errorf("ttyName(%#x) = %q, want %q", nr, got, want)
		}
	}
}

// TestPasswdNames finds root.
func TestPasswdNames(t *testing.T) {
	if PasswdNames()[0] != "root" {
		t.Skip("no root in /etc/passwd")
	}
}
