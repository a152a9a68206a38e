package attach

import (
	"os"
	"testing"
)

// TestListenKeepsNoDescriptor: a Server holds one descriptor of its
// directory, and Close gives it back; Listen keeps none of its own. Not
// parallel: it counts this process's descriptors.
func TestListenKeepsNoDescriptor(t *testing.T) {
	count := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	dir := t.TempDir()
	before := count()
	for range 10 {
		s, err := Listen(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if after := count(); after != before {
		t.Errorf("%d descriptors before 10 Listen and Close, %d after", before, after)
	}
}
