package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseChanges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		changes []string
		want    ocispec.ImageConfig
		wantErr string
	}{
		{changes: []string{`CMD ["sh"]`}, want: ocispec.ImageConfig{Cmd: []string{"sh"}}},
		{changes: []string{`cmd echo "hi there"`}, want: ocispec.ImageConfig{Cmd: []string{"/bin/sh", "-c", `echo "hi there"`}}},
		{changes: []string{`ENTRYPOINT ["/init", "--x"]`}, want: ocispec.ImageConfig{Entrypoint: []string{"/init", "--x"}}},
		{changes: []string{`ENTRYPOINT [not json`}, want: ocispec.ImageConfig{Entrypoint: []string{"/bin/sh", "-c", "[not json"}}},
		{changes: []string{`ENV A=1 B="two words" C='x y' D=e\ f`, `ENV A=3`},
			want: ocispec.ImageConfig{Env: []string{"A=3", "B=two words", "C=x y", "D=e f"}}},
		{changes: []string{`ENV PATH /usr/bin:/bin`}, want: ocispec.ImageConfig{Env: []string{"PATH=/usr/bin:/bin"}}},
		{changes: []string{`LABEL a=b "c d"=e`}, want: ocispec.ImageConfig{Labels: map[string]string{"a": "b", "c d": "e"}}},
		{changes: []string{"WORKDIR /app", "WORKDIR sub"}, want: ocispec.ImageConfig{WorkingDir: "/app/sub"}},
		{changes: []string{"USER nobody:nogroup"}, want: ocispec.ImageConfig{User: "nobody:nogroup"}},
		{changes: []string{"STOPSIGNAL SIGQUIT"}, want: ocispec.ImageConfig{StopSignal: "SIGQUIT"}},
		{changes: []string{"EXPOSE 80 53/UDP 8000-8001"}, want: ocispec.ImageConfig{ExposedPorts: map[string]struct{}{
			"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}}},
		{changes: []string{`VOLUME ["/data", "/logs"]`}, want: ocispec.ImageConfig{Volumes: map[string]struct{}{"/data": {}, "/logs": {}}}},
		{changes: []string{"VOLUME /data"}, want: ocispec.ImageConfig{Volumes: map[string]struct{}{"/data": {}}}},
		{changes: []string{"CMD"}, wantErr: "requires at least one argument"},
		{changes: []string{"EXPOSE 70000"}, wantErr: "invalid port"},
		{changes: []string{"EXPOSE 80/icmp"}, wantErr: "unknown protocol"},
		{changes: []string{"ENV A=1 junk"}, wantErr: "want key=value"},
		{changes: []string{`LABEL a="unterminated`}, wantErr: "unterminated"},
		{changes: []string{"ONBUILD RUN x"}, wantErr: "not supported"},
		{changes: []string{"RUN make"}, wantErr: "unknown instruction RUN"},
	}
	for _, tt := range tests {
		got, err := parseChanges(tt.changes)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseChanges(%q) error = %v, want %q", tt.changes, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("parseChanges(%q): %v", tt.changes, err)
		case !reflect.DeepEqual(got, tt.want):
			t.Errorf("parseChanges(%q) = %+v, want %+v", tt.changes, got, tt.want)
		}
	}
}

func TestHumanSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n      int64
		digits int
		want   string
	}{
		{0, 3, "0B"}, {999, 3, "999B"}, {1234, 3, "1.23kB"}, {1234567, 3, "1.23MB"},
		{123456789, 3, "123MB"}, {30_000_000, 4, "30MB"}, {12_345_678, 4, "12.35MB"}, {2e9, 3, "2GB"},
	}
	for _, tt := range tests {
		if got := humanSize(tt.n, tt.digits); got != tt.want {
			t.Errorf("humanSize(%d, %d) = %q, want %q", tt.n, tt.digits, got, tt.want)
		}
	}
}

func TestCreatedSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{0, "Less than a second ago"}, {30 * time.Second, "30 seconds ago"},
		{90 * time.Second, "About a minute ago"}, {3 * time.Minute, "3 minutes ago"},
		{time.Hour, "About an hour ago"}, {5 * time.Hour, "5 hours ago"},
		{3 * 24 * time.Hour, "3 days ago"}, {21 * 24 * time.Hour, "3 weeks ago"},
		{90 * 24 * time.Hour, "3 months ago"}, {3 * 365 * 24 * time.Hour, "3 years ago"},
	}
	for _, tt := range tests {
		if got := createdSince(now.Add(-tt.ago), now); got != tt.want {
			t.Errorf("createdSince(-%v) = %q, want %q", tt.ago, got, tt.want)
		}
	}
	if got := createdSince(time.Time{}, now); got != "N/A" {
		t.Errorf("createdSince(zero) = %q, want N/A", got)
	}
}

func TestFlagsParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		wantPos []string
		q, a    bool
		m       string
	}{
		{args: []string{"x", "-q", "y"}, wantPos: []string{"x", "y"}, q: true},
		{args: []string{"--quiet", "--all", "x"}, wantPos: []string{"x"}, q: true, a: true},
		{args: []string{"-qa", "x"}, wantPos: []string{"x"}, q: true, a: true},
		{args: []string{"x", "-m", "-qa", "y"}, wantPos: []string{"x", "y"}, m: "-qa"},
		{args: []string{"-m=hi", "-", "--", "-q"}, wantPos: []string{"-", "-q"}, m: "hi"},
	}
	for _, tt := range tests {
		fs := newFlags("test")
		var q, a bool
		var m string
		fs.Bool(&q, "q", "quiet", "")
		fs.Bool(&a, "a", "all", "")
		fs.String(&m, "m", "message", "MSG", "")
		pos, err := fs.parse(tt.args)
		if err != nil || !reflect.DeepEqual(pos, tt.wantPos) || q != tt.q || a != tt.a || m != tt.m {
			t.Errorf("parse(%q) = %q, q=%v a=%v m=%q, %v; want %q, q=%v a=%v m=%q",
				tt.args, pos, q, a, m, err, tt.wantPos, tt.q, tt.a, tt.m)
		}
	}
	fs := newFlags("test")
	if _, err := fs.parse([]string{"-qz"}); err == nil {
		t.Error("parse of an unknown bundle succeeded")
	}
}

func TestProgressPrinter(t *testing.T) {
	t.Parallel()
	ref, err := hull.ParseReference("redis:7")
	if err != nil {
		t.Fatal(err)
	}
	events := []hull.Progress{
		{ID: "7", Status: "Resolving"},
		{ID: "aaa", Status: "Waiting"},
		{ID: "bbb", Status: "Waiting"},
		{ID: "aaa", Status: "Downloading", Current: 1 << 20, Total: 4 << 20},
		{ID: "aaa", Status: "Downloading", Current: 2 << 20, Total: 4 << 20},
		{ID: "bbb", Status: "Already exists"},
		{ID: "bbb", Status: "Pull complete"}, // not shown, as with docker
		{ID: "aaa", Status: "Pull complete"},
		{ID: "ccc", Status: "Done"},
	}
	var plain bytes.Buffer
	p := newProgressPrinter(&plain, false, ref)
	for _, ev := range events {
		p.update(ev)
	}
	want := "7: Pulling from library/redis\naaa: Waiting\nbbb: Waiting\naaa: Downloading\nbbb: Already exists\naaa: Pull complete\n"
	if plain.String() != want {
		t.Errorf("plain progress:\n%s\nwant:\n%s", plain.String(), want)
	}

	var tty bytes.Buffer
	p = newProgressPrinter(&tty, true, ref)
	for _, ev := range events[:5] {
		p.update(ev)
	}
	// aaa's line is two lines up from the cursor: redrawn in place.
	if !strings.Contains(tty.String(), "\x1b[2A\r\x1b[2Kaaa: Downloading [=========================>") ||
		!strings.Contains(tty.String(), "2.097MB/4.194MB\x1b[2B\r") {
		t.Errorf("terminal progress: %q", tty.String())
	}
}

func TestImageFilter(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		repoTag, pattern string
		want             bool
	}{
		{"redis:7", "redis", true},
		{"redis:7", "redis:7", true},
		{"redis:7", "redis:6", false},
		{"localhost:5000/a/b:1", "localhost:5000/a/b", true},
		{"localhost:5000/a/b:1", "localhost:5000/*/b:1", true},
		{"redis:7", "red", false},
		{"<none>:<none>", "*", false},
	} {
		repo, tag := splitRepoTag(tt.repoTag)
		if got := matchRow(imageRow{repo: repo, tag: tag}, tt.pattern); got != tt.want {
			t.Errorf("match %s against %s = %v, want %v", tt.repoTag, tt.pattern, got, tt.want)
		}
	}
}

func TestExecTemplate(t *testing.T) {
	t.Parallel()
	obj := hull.ImageInspect{ID: "sha256:abc", Size: 12_000_000, RepoTags: []string{"a:1", "b:2"}}
	for format, want := range map[string]string{
		"{{.ID}}":                       "sha256:abc",
		"{{.Id}}":                       "sha256:abc", // the JSON name, as docker allows
		"{{.Size}}":                     "12000000",
		"{{json .RepoTags}}":            `["a:1","b:2"]`,
		`{{join .RepoTags ","}}`:        "a:1,b:2",
		"{{upper (index .RepoTags 0)}}": "A:1",
	} {
		tmpl, err := parseTemplate("test", format)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if got, err := execTemplate(tmpl, obj); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", format, got, err, want)
		}
	}
}

// truncate keeps 20 runes, cuts 21 to 19 and an ellipsis, and counts
// runes, not bytes.
func TestEllipsis(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"/bin/true", "/bin/true"},
		{"12345678901234567890", "12345678901234567890"},
		{"123456789012345678901", "1234567890123456789…"},
		{"ééééééééééééééééééééé", "ééééééééééééééééééé…"},
		{"éééééééééééééééééééé", "éééééééééééééééééééé"},
	} {
		if got := ellipsis(tc.in, 20); got != tc.want {
			t.Errorf("ellipsis(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
