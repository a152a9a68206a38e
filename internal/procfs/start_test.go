package procfs

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// TestStat: this process runs and has a start time; a child that exited
// and is not reaped is a zombie with the same start time, and gone once
// reaped.
func TestStat(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	if s, exited := Stat(os.Getpid()); s == 0 || exited || StartTime(os.Getpid()) != s {
		t.Fatalf("Stat(self) = %d, %v", s, exited)
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Skip("no true command:", err)
	}
	pid := cmd.Process.Pid
	start := StartTime(pid)
	for {
		if s, exited := Stat(pid); exited {
			if start != 0 && s != start {
				t.Errorf("zombie start %d, was %d", s, start)
			}
			break
		}
		runtime.Gosched()
	}
	if StartTime(pid) != 0 {
		t.Error("a zombie has a StartTime")
	}
	_ = cmd.Wait()
	if s, exited := Stat(pid); s != 0 || exited {
		t.Errorf("reaped: Stat = %d, %v", s, exited)
	}
}
