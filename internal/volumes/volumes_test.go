package volumes

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestCheckName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"ab", "data", "my_vol.1-x", "0a"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", ".import-1", "_a", "a/b", "a b", string(make([]byte, 256))} {
		if err := CheckName(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("CheckName(%q) = %v, want ErrInvalidName", bad, err)
		}
	}
}

// TestMakeReadDelete: a volume made is listed and read back; deleted, it
// is gone, and no hidden directory is left.
func TestMakeReadDelete(t *testing.T) {
	t.Parallel()
	d := Dir(filepath.Join(t.TempDir(), "volumes"))
	if names, err := d.Names(); err != nil || names != nil {
		t.Fatalf("Names of a missing dir = %v, %v", names, err)
	}
	unlock, err := d.Lock() // makes the directory
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	meta := Meta{Name: "data", CreatedAt: time.Now().UTC().Truncate(time.Second), Labels: map[string]string{"k": "v"}}
	if err := d.Make(meta); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(d.Data("data")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Fatalf("_data: %v %v", fi, err)
	}
	got, err := d.Read("data")
	if err != nil || got.Name != "data" || !got.CreatedAt.Equal(meta.CreatedAt) || got.Labels["k"] != "v" {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	if _, err := d.Read("other"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a missing volume: %v", err)
	}
	if names, err := d.Names(); err != nil || !slices.Equal(names, []string{"data"}) {
		t.Errorf("Names = %v, %v", names, err)
	}
	if err := d.Delete("data"); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(string(d))
	if len(ents) != 1 || ents[0].Name() != ".lock" {
		t.Errorf("after Delete the directory holds %v", ents)
	}
}

// TestRemoveStale: what a crashed create, import or remove left is not
// listed and RemoveStale frees it, counting its bytes, but leaves a live
// import alone; that import then commits into a volume.
func TestRemoveStale(t *testing.T) {
	t.Parallel()
	d := Dir(filepath.Join(t.TempDir(), "volumes"))
	for _, p := range []string{".create-1", ".import-2/_data", ".removing-gone/_data", "real/_data"} {
		if err := os.MkdirAll(d.Path(p), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(d.Path(".import-2/_data/big"), make([]byte, 300_000), 0o600); err != nil {
		t.Fatal(err)
	}
	live, err := d.StartImport()
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if err := os.WriteFile(filepath.Join(live.Data(), "busy"), make([]byte, 100_000), 0o600); err != nil {
		t.Fatal(err)
	}
	if names, err := d.Names(); err != nil || !slices.Equal(names, []string{"real"}) {
		t.Errorf("Names = %v, %v", names, err)
	}
	if freed := d.RemoveStale(); freed != 300_000 {
		t.Errorf("RemoveStale freed %d bytes, want 300000 (the killed import's)", freed)
	}
	if err := live.Commit(Meta{Name: "real"}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Commit over a volume: %v, want fs.ErrExist", err)
	}
	live2, err := d.StartImport()
	if err != nil {
		t.Fatal(err)
	}
	defer live2.Close()
	if err := live2.Commit(Meta{Name: "imported"}); err != nil {
		t.Fatal(err)
	}
	if m, err := d.Read("imported"); err != nil || m.Name != "imported" {
		t.Errorf("Read of the import = %+v, %v", m, err)
	}
}

// TestExportHold: an export is seen while it is held, and several may
// overlap.
func TestExportHold(t *testing.T) {
	t.Parallel()
	d := Dir(t.TempDir())
	if err := d.Make(Meta{Name: "v1"}); err != nil {
		t.Fatal(err)
	}
	if d.Exporting("v1") {
		t.Fatal("exporting before any export")
	}
	r1, err := d.HoldExport("v1")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := d.HoldExport("v1")
	if err != nil {
		t.Fatal(err)
	}
	r1()
	if !d.Exporting("v1") {
		t.Error("not exporting while the second export runs")
	}
	r2()
	if d.Exporting("v1") {
		t.Error("exporting after both ended")
	}
}
