package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	now := time.Now()
	rec := func(m, c string) *ImageRecord {
		return &ImageRecord{Manifest: digest.FromString(m), Config: digest.FromString(c), Added: now}
	}
	a, b := rec("ma", "ca"), rec("mb", "cb")
	a.Index = digest.FromString("index-a")
	b.RepoDigests = []string{"docker.io/library/b@" + digest.FromString("pushed").String()}
	ix := &Index{Images: map[digest.Digest]*ImageRecord{a.Manifest: a, b.Manifest: b}, Tags: map[string]*TagRecord{}}
	ix.SetTag("docker.io/library/a:1", a.Manifest, now)
	// A tag whose name is the prefix of b's ID: ambiguous if asked bare.
	bPrefix := b.Config.Encoded()[:12]
	ix.SetTag("docker.io/library/"+bPrefix+":latest", a.Manifest, now)
	ref := func(repo, tag string, d digest.Digest) Name {
		return Name{Ref: repo + ":" + tag, IsRef: true, Repo: "docker.io/library/" + repo, Tag: tag, Digest: d}
	}
	for _, tc := range []struct {
		name string
		n    Name
		want *ImageRecord
		tag  string
		err  error
	}{
		{"tag", ref("a", "1", ""), a, "docker.io/library/a:1", nil},
		{"missing tag", ref("a", "2", ""), nil, "", ErrNoImage},
		{"manifest digest", ref("a", "", a.Manifest), a, "", nil},
		{"index digest", ref("a", "", a.Index), a, "", nil},
		{"pushed digest", ref("b", "", digest.FromString("pushed")), b, "", nil},
		{"unknown digest", ref("b", "", digest.FromString("nothing")), nil, "", ErrNoImage},
		{"ID", Name{Ref: b.Config.String(), IsID: true}, b, "", nil},
		{"ID prefix", Name{Ref: a.Config.Encoded()[:8], IsID: true}, a, "", nil},
		{"whole manifest digest", Name{Ref: b.Manifest.String(), IsID: true}, b, "", nil},
		{"tag and ID prefix", Name{Ref: bPrefix, IsID: true, IsRef: true, Repo: "docker.io/library/" + bPrefix, Tag: "latest"}, nil, "", ErrAmbiguous},
		{"no such ID", Name{Ref: strings.Repeat("f", 12), IsID: true}, nil, "", ErrNoImage},
	} {
		got, tag, err := ix.Resolve(tc.n)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || tag != tc.tag {
			t.Errorf("%s: %v %q %v", tc.name, got, tag, err)
		}
	}
}
