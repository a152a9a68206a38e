package eventlog

import (
	"errors"
	"testing"
	"time"
)

func TestFilter(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ctr := Record{Time: now, Type: "container", Action: "start", ID: "abcdef0123", Name: "web",
		Attributes: map[string]string{"image": "redis:7"}}
	img := Record{Time: now, Type: "image", Action: "pull", ID: "sha256:feed", Name: "redis:7"}
	for _, tc := range []struct {
		name     string
		add      [][2]string
		until    time.Time
		ctr, img bool
	}{
		{"none", nil, time.Time{}, true, true},
		{"type", [][2]string{{"type", "image"}}, time.Time{}, false, true},
		{"event alternatives", [][2]string{{"event", "stop"}, {"event", "start"}}, time.Time{}, true, false},
		{"container by name", [][2]string{{"container", "web"}}, time.Time{}, true, false},
		{"container by ID prefix", [][2]string{{"container", "abc"}}, time.Time{}, true, false},
		{"image of a container, and an image", [][2]string{{"image", "redis:7"}}, time.Time{}, true, true},
		{"image by bare ID", [][2]string{{"image", "feed"}}, time.Time{}, false, true},
		{"keys all match", [][2]string{{"type", "container"}, {"event", "pull"}}, time.Time{}, false, false},
		{"until past", nil, now.Add(-time.Second), false, false},
		{"until ahead", nil, now.Add(time.Second), true, true},
	} {
		f := Filter{Until: tc.until}
		for _, kv := range tc.add {
			if err := f.Add(kv[0], kv[1]); err != nil {
				t.Fatal(err)
			}
		}
		if got := f.Match(&ctr); got != tc.ctr {
			t.Errorf("%s: container event matched %v", tc.name, got)
		}
		if got := f.Match(&img); got != tc.img {
			t.Errorf("%s: image event matched %v", tc.name, got)
		}
	}
	var f Filter
	for _, bad := range [][2]string{{"label", "x"}, {"type", ""}} {
		if err := f.Add(bad[0], bad[1]); !errors.Is(err, ErrInvalidFilter) {
			t.Errorf("Add(%q, %q) = %v", bad[0], bad[1], err)
		}
	}
}
