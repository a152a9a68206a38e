package hull

import (
	"context"
	"fmt"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// TagEvent is one move of a local tag: from Time on, the tag pointed at the
// image whose manifest digest is Digest.
type TagEvent struct {
	Digest digest.Digest // manifest digest (Image.Digest)
	Time   time.Time     // when the tag was moved there
}

// TagHistory returns every image a local tag ("app:live") has pointed at,
// oldest first; the last event is the current one. Pull, Import, Tag and
// builds record a move whenever they point the tag at a different image.
// To roll back, point the tag at an earlier digest again:
//
//	h, _ := rt.TagHistory(ctx, "app:live")
//	err := rt.Tag(ctx, h[len(h)-2].Digest.String(), "app:live")
//
// The images of earlier events may have been removed since. Removing a tag
// forgets its history. Errors wrap ErrInvalidReference, or ErrNotFound for
// a tag that does not exist.
func (rt *Runtime) TagHistory(ctx context.Context, ref string) ([]TagEvent, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	r, err := ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("tag history: %w", err)
	}
	if r.Digest != "" {
		return nil, fmt.Errorf("tag history: %w: %q names a digest, not a tag", ErrInvalidReference, ref)
	}
	ix, err := rt.store.ReadIndex()
	if err != nil {
		return nil, fmt.Errorf("tag history %s: %w", r.Familiar(), err)
	}
	t := ix.Tags[r.tagged()]
	if t == nil {
		return nil, fmt.Errorf("tag history %s: %w", r.Familiar(), ErrNotFound)
	}
	out := make([]TagEvent, len(t.History))
	for i, e := range t.History {
		out[i] = TagEvent{Digest: e.Digest, Time: e.Time}
	}
	return out, nil
}
