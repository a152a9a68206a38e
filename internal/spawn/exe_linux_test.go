package spawn

import (
	"os/exec"
	"sync"
	"testing"
)

// copyCmd runs this test binary's sealed copy exe, as a plain test
// process that lists no test and exits 0.
func copyCmd(exe *Exe) *exec.Cmd { return exec.Command(exe.Path(), "-test.list=^$") }

// TestStartRetries: goroutines that each make a sealed copy of the binary
// and exec it at once, as parallel Runtimes do. An exec of a memfd fails
// now and then with EACCES although the memfd is executable and a second
// try works (startCmd); none of these starts may fail.
func TestStartRetries(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for range 30 {
				exe, err := NewExe()
				if err != nil {
					t.Error(err)
					return
				}
				cmd, err := startCmd(copyCmd(exe))
				if err == nil {
					err = cmd.Wait()
				}
				exe.Close()
				if err != nil {
					t.Errorf("exec of the binary's copy: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}
