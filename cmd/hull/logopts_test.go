package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hullbox/hull"
)

func TestParseDecimalSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want int64
	}{
		{"1", 1}, {"10k", 10_000}, {"10K", 10_000}, {"10m", 10_000_000}, {"10M", 10_000_000},
		{"10mb", 10_000_000}, {"10MiB", 10_000_000}, {"1.5g", 1_500_000_000}, {"2 k", 2000},
		{"100b", 100}, {"-1", hull.LogMaxSizeUnlimited},
	} {
		if got, err := parseDecimalSize(tt.in); err != nil || got != tt.want {
			t.Errorf("parseDecimalSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "0", "0k", "-2", "10x", "m", "1..5m", ".5m", "1.2.3m", "10  m", "ten"} {
		if n, err := parseDecimalSize(in); err == nil {
			t.Errorf("parseDecimalSize(%q) = %d, want an error", in, n)
		}
	}
}

func TestLogOptions(t *testing.T) {
	t.Parallel()
	if opts, err := logOptions("hull run", []string{"max-size=10m", "max-file=3"}); err != nil || len(opts) != 2 {
		t.Errorf("valid: %d options, %v", len(opts), err)
	}
	for _, tt := range []struct{ opt, want string }{
		{"max-size=10x", `"max-size=10x" for "--log-opt" flag: max-size: invalid size "10x"`},
		{"max-size=0", `max-size: invalid size "0": must be a positive number`},
		{"max-file=0", `"max-file=0" for "--log-opt" flag: max-file cannot be less than 1`},
		{"max-file=two", `max-file: "two" is not an integer`},
		{"compress=true", `unknown log opt "compress"`},
		{"max-size", `want KEY=VALUE`},
	} {
		if _, err := logOptions("hull run", []string{tt.opt}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--log-opt %s: %v, want %q", tt.opt, err, tt.want)
		}
	}
}

// TestRunLogOpt: `hull run -d --log-opt` bounds a fast writer's log, and
// `hull logs` reads the newest lines across the kept files.
func TestRunLogOpt(t *testing.T) {
	root := busyboxRoot(t)
	t.Parallel()
	if r := hullCmd(t, root, nil, "run", "-d", "--log-opt", "max-size=1q", "busybox:test", "true"); r.code != 125 ||
		!strings.Contains(r.stderr, `"--log-opt" flag: max-size: invalid size "1q"`) {
		t.Errorf("bad max-size: %+v", r)
	}
	id := strings.TrimSpace(mustHull(t, root, nil, "run", "-d", "--log-opt", "max-size=20k", "--log-opt", "max-file=3",
		"busybox:test", "sh", "-c", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); echo $i; done").stdout)
	defer hullCmd(t, root, nil, "rm", "-f", id)
	mustHull(t, root, nil, "wait", id)
	dir := filepath.Join(root, "containers", id)
	var total int64
	for _, name := range []string{"container.log", "container.log.1", "container.log.2"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	if _, err := os.Stat(filepath.Join(dir, "container.log.3")); err == nil || total > 60_000 {
		t.Errorf("log takes %d bytes (want <= 60000), container.log.3: %v", total, err)
	}
	lines := strings.Split(strings.TrimSuffix(mustHull(t, root, nil, "logs", id).stdout, "\n"), "\n")
	for i, l := range lines {
		if n, err := strconv.Atoi(l); err != nil || n != 30000-len(lines)+1+i {
			t.Fatalf("logs line %d: %q (of %d lines, ending %q)", i, l, len(lines), lines[len(lines)-1])
		}
	}
	if len(lines) < 500 {
		t.Errorf("logs kept %d lines", len(lines))
	}
}
