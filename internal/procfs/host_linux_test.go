package procfs

import (
	"runtime"
	"testing"
	"time"
)

// TestHostCPUAndMemory reads the host's figures: CPU time grows while a
// goroutine spins, the online CPUs are counted, the
// memory is more than a page.
func TestHostCPUAndMemory(t *testing.T) {
	a, err := SystemCPUNs()
	if err != nil || a == 0 {
		t.Fatalf("SystemCPUNs() = %d, %v", a, err)
	}
	for end := time.Now().Add(30 * time.Millisecond); time.Now().Before(end); {
	}
	if b, err := SystemCPUNs(); err != nil || b <= a {
		t.Errorf("SystemCPUNs() after spinning = %d, %v; want more than %d", b, err, a)
	}
	if n := OnlineCPUs(); n < 1 || n > 4*runtime.NumCPU()+1024 {
		t.Errorf("OnlineCPUs() = %d", n)
	}
	if m := MemTotal(); m < 1<<20 {
		t.Errorf("MemTotal() = %d", m)
	}
}
