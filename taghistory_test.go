//go:build linux

package hull

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/testutil"
	digest "github.com/opencontainers/go-digest"
)

func TestTagHistoryRollback(t *testing.T) {
	t.Parallel()
	reg := testutil.StartRegistry(t)
	rt := openTest(t)
	ctx := t.Context()
	live := reg.Host + "/app:live"
	var versions []*Image
	start := time.Now()
	for _, v := range []string{"one", "two", "three"} {
		tarball := testutil.TarBytes(t, []testutil.File{{Name: "version", Body: []byte(v)}})
		img, err := rt.Import(ctx, bytes.NewReader(tarball), live)
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, img)
	}
	// Tagging the current image again is not a move.
	if err := rt.Tag(ctx, live, live); err != nil {
		t.Fatal(err)
	}
	hist, err := rt.TagHistory(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	digests := func(h []TagEvent) []digest.Digest {
		var out []digest.Digest
		for _, e := range h {
			out = append(out, e.Digest)
		}
		return out
	}
	want := []digest.Digest{versions[0].Digest(), versions[1].Digest(), versions[2].Digest()}
	if got := digests(hist); !slices.Equal(got, want) {
		t.Fatalf("history %v, want %v", got, want)
	}
	for i, e := range hist {
		if e.Time.Before(start.Add(-time.Second)) || (i > 0 && e.Time.Before(hist[i-1].Time)) {
			t.Errorf("event %d at %v: not in order since %v", i, e.Time, start)
		}
	}

	// Roll back to the first version by its manifest digest, and push it.
	if err := rt.Tag(ctx, hist[0].Digest.String(), live); err != nil {
		t.Fatal(err)
	}
	img, err := rt.Image(ctx, live)
	if err != nil || img.Digest() != versions[0].Digest() {
		t.Fatalf("after rollback %s is %v (%v), want %s", live, img.Digest(), err, versions[0].Digest())
	}
	if err := rt.Push(ctx, live); err != nil {
		t.Fatal(err)
	}
	// The layer goes compressed, so the manifest is a new one of the
	// same image (config).
	if desc, raw := remoteManifest(t, reg, "app", "live"); !bytes.Contains(raw, []byte(versions[0].ID())) {
		t.Errorf("registry has %s: %s, want the rolled-back image %s", desc.Digest, raw, versions[0].ID())
	}
	hist, err = rt.TagHistory(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	if got := digests(hist); !slices.Equal(got, append(want, versions[0].Digest())) {
		t.Errorf("history after rollback %v", got)
	}

	if _, err := rt.TagHistory(ctx, reg.Host+"/app:never"); !errors.Is(err, ErrNotFound) {
		t.Errorf("history of an unknown tag: %v, want ErrNotFound", err)
	}
	if _, err := rt.TagHistory(ctx, reg.Host+"/app@"+versions[0].Digest().String()); !errors.Is(err, ErrInvalidReference) {
		t.Errorf("history of a digest: %v, want ErrInvalidReference", err)
	}
}
