//go:build linux

package hull

import (
	"errors"
	"slices"
	"testing"

	"github.com/hullbox/hull/internal/testutil"
)

func TestRemoteTags(t *testing.T) {
	t.Parallel()
	for _, ar := range authRegistries {
		t.Run(ar.name, func(t *testing.T) {
			t.Parallel()
			reg := testutil.StartRegistry(t, ar.opt("alice", "s3cret"))
			pushed := reg.Push(t, "src/app:1", testutil.BusyboxImage(t))
			rt := openTest(t, noDockerConfig(t), WithAuth(reg.Host, "alice", "s3cret"))
			if _, err := rt.Pull(t.Context(), pushed.Ref); err != nil {
				t.Fatal(err)
			}
			for _, tag := range []string{"v2", "latest", "v10"} {
				ref := reg.Host + "/app:" + tag
				if err := rt.Tag(t.Context(), pushed.Ref, ref); err != nil {
					t.Fatal(err)
				}
				if err := rt.Push(t.Context(), ref); err != nil {
					t.Fatal(err)
				}
			}
			tags, err := rt.RemoteTags(t.Context(), reg.Host+"/app")
			if want := []string{"latest", "v10", "v2"}; err != nil || !slices.Equal(tags, want) {
				t.Errorf("RemoteTags = %v, %v; want %v", tags, err, want)
			}
			if _, err := rt.RemoteTags(t.Context(), reg.Host+"/nothing/here"); !errors.Is(err, ErrNotFound) {
				t.Errorf("tags of a missing repository: %v, want ErrNotFound", err)
			}
			denied := openTest(t, noDockerConfig(t))
			if _, err := denied.RemoteTags(t.Context(), reg.Host+"/app"); !errors.Is(err, ErrUnauthorized) {
				t.Errorf("anonymous RemoteTags: %v, want ErrUnauthorized", err)
			}
		})
	}
}

func TestRemoteTagsRejects(t *testing.T) {
	t.Parallel()
	rt := openTest(t)
	for _, ref := range []string{"localhost:5000/app:1", "localhost:5000/app@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "Bad Name", ""} {
		if _, err := rt.RemoteTags(t.Context(), ref); !errors.Is(err, ErrInvalidReference) {
			t.Errorf("RemoteTags(%q) = %v, want ErrInvalidReference", ref, err)
		}
	}
}
