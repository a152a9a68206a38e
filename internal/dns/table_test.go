package dns

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

func openTable(t *testing.T, path string) *Table {
	t.Helper()
	tb, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Close() })
	return tb
}

func mustSet(t *testing.T, tb *Table, network, ctr, ip string, names ...string) {
	t.Helper()
	if err := tb.Set(Record{Network: network, Container: ctr, Names: names, IP: netip.MustParseAddr(ip)}); err != nil {
		t.Fatal(err)
	}
}

func TestTableLookup(t *testing.T) {
	tb := openTable(t, filepath.Join(t.TempDir(), "names"))
	mustSet(t, tb, "n1", "c1", "10.1.0.2", "Web", "www", "c1short")
	mustSet(t, tb, "n1", "c2", "10.1.0.3", "client")
	mustSet(t, tb, "n2", "c3", "10.2.0.2", "other", "www")
	mustSet(t, tb, "n2", "c2", "10.2.0.3", "client")
	mustSet(t, tb, "n3", "c4", "10.3.0.2", "alone")
	mustSet(t, tb, "n1", "c5", "10.1.0.5", "www") // a shared alias

	for _, tc := range []struct {
		self, name string
		want       []string // nil: not found
	}{
		{"c2", "web", []string{"10.1.0.2"}},
		{"c2", "WEB.", []string{"10.1.0.2"}},
		{"c2", "c1short", []string{"10.1.0.2"}},
		{"c2", "www", []string{"10.1.0.2", "10.2.0.2", "10.1.0.5"}},
		{"c1", "www", []string{"10.1.0.2", "10.1.0.5"}},
		{"c1", "other", nil},                   // n2 only: not shared with c1
		{"c4", "web", nil},                     // another network
		{"c1", "client", []string{"10.1.0.3"}}, // only its address on the shared network
		{"c1", "web", []string{"10.1.0.2"}},    // itself
		{"nobody", "web", nil},                 // a container with no record sees nothing
		{"c2", "", nil},
	} {
		addrs, found, err := tb.Lookup(tc.self, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range addrs {
			got = append(got, a.String())
		}
		if found != (tc.want != nil) || !slices.Equal(got, tc.want) {
			t.Errorf("Lookup(%s, %q) = %v, %v; want %v", tc.self, tc.name, got, found, tc.want)
		}
	}
	if name, _ := tb.LookupAddr("c2", netip.MustParseAddr("10.1.0.2")); name != "web" {
		t.Errorf("LookupAddr = %q, want web", name)
	}
	if name, _ := tb.LookupAddr("c4", netip.MustParseAddr("10.1.0.2")); name != "" {
		t.Errorf("LookupAddr from another network = %q, want nothing", name)
	}

	// Remove one network, then all, then again (idempotent).
	if err := tb.Remove("c2", "n2"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := tb.Lookup("c2", "other"); found {
		t.Error("c2 still sees n2 after leaving it")
	}
	if _, found, _ := tb.Lookup("c2", "web"); !found {
		t.Error("c2 lost n1 when leaving n2")
	}
	for range 2 {
		if err := tb.Remove("c2", ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, found, _ := tb.Lookup("c1", "client"); found {
		t.Error("c2 still resolvable after Remove(c2, \"\")")
	}
	// Set replaces: new names and address.
	mustSet(t, tb, "n1", "c1", "10.1.0.9", "web2")
	if _, found, _ := tb.Lookup("c5", "web"); found {
		t.Error("old name survived Set")
	}
	if a, _, _ := tb.Lookup("c5", "web2"); len(a) != 1 || a[0].String() != "10.1.0.9" {
		t.Errorf("web2 = %v", a)
	}
	if err := tb.Set(Record{Network: "n1", Container: "c1"}); err == nil {
		t.Error("Set without an address succeeded")
	}
}

// TestTableReaderFollows checks the init's view: a read-only file opened
// once keeps seeing every change, as the file is rewritten in place.
func TestTableReaderFollows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "names")
	w := openTable(t, path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(f)
	defer r.Close()
	var before syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &before); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		name := "c" + strconv.Itoa(i)
		mustSet(t, w, "n", name, fmt.Sprintf("10.0.%d.%d", i/200, i%200+2), name, "alias-that-makes-the-body-longer-"+name)
		mustSet(t, w, "n", "self", "10.0.9.9", "self")
		if _, found, err := r.Lookup("self", name); err != nil || !found {
			t.Fatalf("reader: %s not found after Set (%v)", name, err)
		}
		if i%3 == 0 {
			if err := w.Remove(name, ""); err != nil {
				t.Fatal(err)
			}
			if _, found, _ := r.Lookup("self", name); found {
				t.Fatalf("reader: %s found after Remove", name)
			}
		}
	}
	var after syscall.Stat_t
	if err := syscall.Stat(path, &after); err != nil {
		t.Fatal(err)
	}
	if after.Ino != before.Ino {
		t.Error("the table file was replaced, not rewritten in place")
	}
	if err := r.Set(Record{Network: "n", Container: "x", IP: netip.MustParseAddr("10.0.0.1")}); err == nil {
		t.Error("Set through a read-only reader succeeded")
	}
}

func TestTableCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "names")
	if err := os.WriteFile(path, []byte("not a table at all, but longer than a header is: 0123456789abcdef"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open of a corrupt table: %v, want ErrCorrupt", err)
	}
}

// TestTableConcurrentWriters has writers in several goroutines, each with
// its own file (as separate processes have), and readers checking that
// they never see a torn table.
func TestTableConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "names")
	openTable(t, path)
	const writers, each = 6, 40
	var wg sync.WaitGroup
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		f, err := os.Open(path)
		if err != nil {
			readErr <- err
			return
		}
		r := NewReader(f)
		defer r.Close()
		for {
			select {
			case <-stop:
				readErr <- nil
				return
			default:
			}
			if _, err := r.Records(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	for w := range writers {
		wg.Go(func() {
			tb, err := Open(path)
			if err != nil {
				t.Error(err)
				return
			}
			defer tb.Close()
			if err := writeMany(tb, "w"+strconv.Itoa(w), each); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	close(stop)
	if err := <-readErr; err != nil {
		t.Fatalf("reader: %v", err)
	}
	checkAll(t, path, writers, each)
}

// writeMany sets n records of prefix, and removes every other one.
func writeMany(tb *Table, prefix string, n int) error {
	for i := range n {
		ctr := fmt.Sprintf("%s-%d", prefix, i)
		err := tb.Set(Record{Network: "net", Container: ctr, Names: []string{ctr}, IP: netip.AddrFrom4([4]byte{10, 0, byte(i), 2})})
		if err == nil && i%2 == 1 {
			err = tb.Remove(ctr, "")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func checkAll(t *testing.T, path string, writers, each int) {
	t.Helper()
	tb := openTable(t, path)
	recs, err := tb.Records()
	if err != nil {
		t.Fatal(err)
	}
	if want := writers * each / 2; len(recs) != want {
		t.Errorf("%d records, want %d", len(recs), want)
	}
	for w := range writers {
		for i := 0; i < each; i += 2 {
			name := fmt.Sprintf("w%d-%d", w, i)
			if !slices.ContainsFunc(recs, func(r Record) bool { return r.Container == name }) {
				t.Errorf("lost %s", name)
			}
		}
	}
}

// TestTableTwoProcesses writes from this process and a child at once.
func TestTableTwoProcesses(t *testing.T) {
	if p := os.Getenv("HULL_DNS_TEST_WRITER"); p != "" {
		return // the child's run of this test: see TestMain
	}
	path := filepath.Join(t.TempDir(), "names")
	tb := openTable(t, path)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HULL_DNS_TEST_WRITER="+path)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := writeMany(tb, "w0", 200); err != nil {
		t.Error(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("writer process: %v", err)
	}
	checkAll(t, path, 2, 200)
}

func TestMain(m *testing.M) {
	if path := os.Getenv("HULL_DNS_TEST_WRITER"); path != "" {
		tb, err := Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := writeMany(tb, "w1", 200); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestTableWriterCrash: a writer that dies after writing a new body but
// before the header leaves bytes outside the current body; readers and
// later writers still see the previous table.
func TestTableWriterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "names")
	tb := openTable(t, path)
	for i := range 3 {
		mustSet(t, tb, "n", "c"+strconv.Itoa(i), "10.0.0."+strconv.Itoa(i+2), "name"+strconv.Itoa(i))
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hb := make([]byte, headerSize)
	if _, err := f.ReadAt(hb, 0); err != nil {
		t.Fatal(err)
	}
	h, ok := parseHeader(hb)
	if !ok {
		t.Fatal("bad header")
	}
	// The half-written bodies: the free space before the body and a new
	// body after it.
	junk := bytes.Repeat([]byte("[{junk"), 100)
	if h.off > headerSize {
		if _, err := f.WriteAt(junk[:h.off-headerSize], headerSize); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.WriteAt(junk, int64(h.off+h.len)); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	reader := NewReader(r)
	defer reader.Close()
	for _, tbl := range []*Table{reader, openTable(t, path)} {
		if recs, err := tbl.Records(); err != nil || len(recs) != 3 {
			t.Fatalf("after a writer's crash: %v %v", recs, err)
		}
	}
	mustSet(t, tb, "n", "c9", "10.0.0.9", "name9")
	if _, found, err := reader.Lookup("c0", "name9"); err != nil || !found {
		t.Errorf("a write after the crash: %v %v", found, err)
	}
}

// TestTableAtPath: Create makes the file and its directory, SetAt and
// RemoveAt change the table at a path, and RemoveAt of a table that does
// not exist is nothing.
func TestTableAtPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "networks", "names")
	if err := RemoveAt(path, "c1", ""); err != nil {
		t.Fatalf("RemoveAt before Create: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("RemoveAt made the table: %v", err)
	}
	ip := netip.MustParseAddr("10.0.0.2")
	if err := SetAt(path, Record{Network: "n1", Container: "c1", Names: []string{"web"}, IP: ip}); err != nil {
		t.Fatal(err)
	}
	if err := Create(path); err != nil {
		t.Fatalf("Create of an existing table: %v", err)
	}
	tab, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	if recs, err := tab.Records(); err != nil || len(recs) != 1 || recs[0].IP != ip {
		t.Errorf("Records = %+v, %v", recs, err)
	}
	if err := RemoveAt(path, "c1", "n1"); err != nil {
		t.Fatal(err)
	}
	if recs, err := tab.Records(); err != nil || len(recs) != 0 {
		t.Errorf("Records after RemoveAt = %+v, %v", recs, err)
	}
}
