//go:build linux

package hull

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hullbox/hull/internal/store"
	"github.com/hullbox/hull/internal/testutil"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestImportTagRemovePrune(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	ctx := t.Context()
	rootfs := testutil.TarBytes(t, testutil.BusyboxFiles(t))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(rootfs)
	zw.Close()

	img, err := rt.Import(ctx, &gz, "local/busybox:1", WithImportConfig(ocispec.ImageConfig{Cmd: []string{"sh"}}), WithImportMessage("from test"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(img.RepoTags(), []string{"local/busybox:1"}) || !slices.Equal(img.Config().Cmd, []string{"sh"}) {
		t.Errorf("imported: tags %v cmd %v", img.RepoTags(), img.Config().Cmd)
	}
	if h := img.History(); len(h) != 1 || h[0].Comment != "from test" {
		t.Errorf("history %+v", h)
	}
	if l := img.Layers(); len(l) != 1 || l[0].Digest != l[0].DiffID {
		t.Errorf("layers %+v", l)
	}
	root := mountImage(t, rt, img)
	if _, err := os.Stat(filepath.Join(root, "bin/busybox")); err != nil {
		t.Error(err)
	}
	in := inspect(t, img)
	if in.ID != img.ID() || len(in.RootFS.Layers) != 1 || in.Os != "linux" {
		t.Errorf("inspect %+v", in)
	}

	// Tags: a second tag, untag one, the image stays.
	if err := rt.Tag(ctx, "local/busybox:1", "local/busybox:2"); err != nil {
		t.Fatal(err)
	}
	if err := rt.Tag(ctx, "local/busybox:1", "bad tag"); !errors.Is(err, ErrInvalidReference) {
		t.Errorf("bad tag: %v", err)
	}
	if _, err := rt.RemoveImage(ctx, img.ID()); !errors.Is(err, ErrConflict) {
		t.Errorf("rmi by ID with two tags: %v, want ErrConflict", err)
	}
	rep, err := rt.RemoveImage(ctx, "local/busybox:1")
	if err != nil || !slices.Equal(rep.Untagged, []string{"local/busybox:1"}) || len(rep.Deleted) != 0 {
		t.Fatalf("rmi one of two tags: %+v %v", rep, err)
	}
	// A container's hold blocks removal of the last tag.
	if err := rt.store.PutHold(store.Hold{ID: "ctr1", Image: img.Digest(), Snapshots: img.rec.ChainIDs}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RemoveImage(ctx, "local/busybox:2"); !errors.Is(err, ErrConflict) {
		t.Errorf("rmi of a held image: %v, want ErrConflict", err)
	}
	rt.store.DeleteHold("ctr1")
	rep, err = rt.RemoveImage(ctx, "local/busybox:2")
	if err != nil || len(rep.Deleted) != 1 || rep.Deleted[0] != img.ID() {
		t.Fatalf("rmi last tag: %+v %v", rep, err)
	}
	if _, err := rt.Image(ctx, img.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("image still there: %v", err)
	}
	blobs, _ := rt.store.Blobs()
	snaps, _ := rt.snaps.List()
	if len(blobs) != 0 || len(snaps) != 0 {
		t.Errorf("rmi left %d blobs, %d snapshots", len(blobs), len(snaps))
	}

	// Prune removes a dangling (untagged) import and reports the bytes.
	if _, err := rt.Import(ctx, bytes.NewReader(rootfs), ""); err != nil {
		t.Fatal(err)
	}
	pr, err := rt.Prune(ctx)
	if err != nil || len(pr.ImagesDeleted) != 1 || pr.SpaceReclaimed < int64(len(rootfs)) {
		t.Errorf("prune: %+v %v (layer is %d bytes)", pr, err, len(rootfs))
	}
	if imgs, _ := rt.Images(ctx); len(imgs) != 0 {
		t.Errorf("%d images after prune", len(imgs))
	}
}

func TestImportRefusesBadInput(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	before := rootListing(t, rt.Root())
	bad := map[string][]byte{
		"not a tar":     []byte("this is not a tar archive at all, just text that goes on for a while......................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................."),
		"escape":        testutil.TarBytes(t, []testutil.File{{Name: "../x", Body: []byte("x")}}),
		"bad gzip":      {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3},
		"dangling link": testutil.TarBytes(t, []testutil.File{{Name: "l", Type: '1', Linkname: "nowhere"}}),
	}
	for name, data := range bad {
		if _, err := rt.Import(t.Context(), bytes.NewReader(data), "x:1"); !errors.Is(err, ErrInvalidContent) {
			t.Errorf("%s: import: %v, want ErrInvalidContent", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if after := rootListing(t, rt.Root()); !slices.Equal(before, after) {
		t.Errorf("root changed:\nbefore %v\nafter  %v", before, after)
	}
	if _, err := rt.Import(t.Context(), bytes.NewReader(nil), "bad ref!"); !errors.Is(err, ErrInvalidReference) {
		t.Errorf("bad ref: %v", err)
	}
}

func TestTagHistoryKept(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	ctx := t.Context()
	a, err := rt.Import(ctx, bytes.NewReader(testutil.TarBytes(t, []testutil.File{{Name: "a", Body: []byte("a")}})), "app:1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := rt.Import(ctx, bytes.NewReader(testutil.TarBytes(t, []testutil.File{{Name: "b", Body: []byte("b")}})), "app:2")
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Tag(ctx, "app:2", "app:live"); err != nil {
		t.Fatal(err)
	}
	if err := rt.Tag(ctx, a.ID(), "app:live"); err != nil { // roll back
		t.Fatal(err)
	}
	got, err := rt.Image(ctx, "app:live")
	if err != nil || got.Digest() != a.Digest() {
		t.Fatalf("app:live = %v, %v; want %s", got, err, a.Digest())
	}
	ix, _ := rt.store.ReadIndex()
	h := ix.Tags["docker.io/library/app:live"].History
	if len(h) != 2 || h[0].Digest != b.Digest() || h[1].Digest != a.Digest() {
		t.Errorf("tag history %+v", h)
	}
}
