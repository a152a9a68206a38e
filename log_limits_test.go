//go:build linux

package hull

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestLogLimitOptions(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		opts []RunOption
		want logLimits
		err  bool
	}{
		{want: logLimits{}},
		{opts: []RunOption{WithLogMaxSize(1000), WithLogMaxFiles(2)}, want: logLimits{1000, 2}},
		{opts: []RunOption{WithLogMaxSize(LogMaxSizeUnlimited)}, want: logLimits{maxSize: -1}},
		{opts: []RunOption{WithLogMaxSize(0)}, err: true},
		{opts: []RunOption{WithLogMaxSize(-2)}, err: true},
		{opts: []RunOption{WithLogMaxFiles(0)}, err: true},
		{opts: []RunOption{WithLogMaxFiles(1 << 40)}, err: true},
	} {
		var rc runConfig
		var err error
		for _, o := range tt.opts {
			err = errors.Join(err, o(&rc))
		}
		if tt.err != (err != nil) || err != nil && !errors.Is(err, ErrInvalidArgument) || !tt.err && rc.logs != tt.want {
			t.Errorf("%d options: %+v, %v", len(tt.opts), rc.logs, err)
		}
	}
	if lim := (logLimits{}).limits(); lim.MaxSize != DefaultLogMaxSize || int64(lim.MaxFiles) != DefaultLogMaxFiles {
		t.Errorf("default limits %+v", lim)
	}
	if lim := (logLimits{maxSize: -1, maxFiles: 5}).limits(); lim.MaxSize != 0 {
		t.Errorf("unlimited: %+v", lim)
	}
}

// logDiskUse is the size of a container's log files.
func logDiskUse(t *testing.T, c *Container) (total int64, files int) {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(c.rt.containerDir(c.id), logName+"*"))
	for _, name := range names {
		if fi, err := os.Stat(name); err == nil {
			total += fi.Size()
			files++
		}
	}
	return total, files
}

// checkNumbered fails unless out is the lines first..last, one each.
func checkNumbered(t *testing.T, what, out string, first, last int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for i, l := range lines {
		if n, err := strconv.Atoi(l); err != nil || n != first+i {
			t.Fatalf("%s: line %d is %q, want %d (%d lines, the last %q)", what, i, l, first+i, len(lines), lines[len(lines)-1])
		}
	}
	if first+len(lines)-1 != last {
		t.Fatalf("%s: %d lines from %d, want up to %d", what, len(lines), first, last)
	}
}

// numbered is a shell loop printing 1..n, pausing pause seconds every
// 100 lines (none: as fast as it can).
func numbered(n int, pause string) []string {
	sleep := ""
	if pause != "" {
		sleep = "[ $((i % 100)) = 0 ] && sleep " + pause + ";"
	}
	return []string{"sh", "-c", "i=0; while [ $i -lt " + strconv.Itoa(n) + " ]; do i=$((i+1)); echo $i; " + sleep + " done"}
}

// TestLogsRotateFastWriter: a container writing as fast as it can keeps
// its log within max-size*max-file, owned or Detached (whose shim writes
// the log), also after a restart; Logs returns the newest lines in order.
func TestLogsRotateFastWriter(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	// 30000 lines, about 2.2 MB of log: 35 rotations of 64 KB. (More
	// only takes CPU from the tests that run alongside.)
	const maxSize, maxFiles, lines = 64 << 10, 3, 30000
	for _, tc := range []struct {
		name string
		opts []RunOption
	}{{"owned", nil}, {"detached", []RunOption{WithDetached()}}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := append([]RunOption{WithLogMaxSize(maxSize), WithLogMaxFiles(maxFiles), WithCmd(numbered(lines, "")...)}, tc.opts...)
			c, err := rt.Run(t.Context(), "busybox:test", opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Remove(context.Background(), WithForce())
			for run := 1; run <= 2; run++ {
				var peak atomic.Int64
				stop := make(chan struct{})
				sampled := make(chan struct{})
				go func() {
					defer close(sampled)
					for {
						if n, _ := logDiskUse(t, c); n > peak.Load() {
							peak.Store(n)
						}
						select {
						case <-stop:
							return
						case <-time.After(2 * time.Millisecond):
						}
					}
				}()
				start := time.Now()
				st, err := c.Wait(t.Context())
				took := time.Since(start)
				close(stop)
				<-sampled
				if err != nil || st.ExitCode != 0 {
					t.Fatalf("run %d: %+v %v", run, st, err)
				}
				total, files := logDiskUse(t, c)
				t.Logf("run %d: %d lines in %v; log %d bytes in %d files, peak %d", run, lines, took.Round(time.Millisecond), total, files, peak.Load())
				if files != maxFiles || max(total, peak.Load()) > maxSize*maxFiles {
					t.Errorf("run %d: log %d bytes in %d files (peak %d), want <= %d in %d", run, total, files, peak.Load(), maxSize*maxFiles, maxFiles)
				}
				var out strings.Builder
				if err := c.Logs(t.Context(), WithLogsStdout(&out)); err != nil {
					t.Fatal(err)
				}
				n := strings.Count(out.String(), "\n")
				if n < maxSize*(maxFiles-1)/100 { // an entry is < 100 bytes
					t.Errorf("run %d: Logs kept %d lines", run, n)
				}
				checkNumbered(t, "logs", out.String(), lines-n+1, lines)
				out.Reset()
				if err := c.Logs(t.Context(), WithLogsTail(3), WithLogsStdout(&out)); err != nil || out.String() != "29998\n29999\n30000\n" {
					t.Errorf("run %d: tail 3: %q %v", run, out.String(), err)
				}
				if run == 1 {
					// Restart: the limits come from config.json.
					if err := c.Start(t.Context()); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// TestLogsFollowRotation: a follower reads every line once, in order,
// while the log is rotated under it many times (the writer stays within
// the kept files of the follower: beyond them, lines are lost, as with
// Docker), from the creator and from another Runtime.
func TestLogsFollowRotation(t *testing.T) {
	t.Parallel()
	rt := containerTest(t)
	rt2, err := Open(t.Context(), WithRoot(rt.Root()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt2.Close() }) // after the parallel subtests
	const maxSize, maxFiles, lines = 32 << 10, 3, 10000
	for _, tc := range []struct {
		name  string
		opts  []RunOption
		other bool
	}{{"owned", nil, false}, {"detached", []RunOption{WithDetached()}, false}, {"detached other runtime", []RunOption{WithDetached()}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// 100 lines (8 KB of log) per 50 ms at most: a follower that
			// polls every 50 ms is always within the 64 KB kept behind
			// the live file.
			opts := append([]RunOption{WithLogMaxSize(maxSize), WithLogMaxFiles(maxFiles), WithCmd(numbered(lines, "0.05")...)}, tc.opts...)
			c, err := rt.Run(t.Context(), "busybox:test", opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Remove(context.Background(), WithForce())
			reader := c
			if tc.other {
				if reader, err = rt2.Container(t.Context(), c.ID()); err != nil {
					t.Fatal(err)
				}
			}
			var out strings.Builder
			if err := reader.Logs(t.Context(), WithLogsFollow(), WithLogsStdout(&out)); err != nil {
				t.Fatal(err)
			}
			checkNumbered(t, "follow", out.String(), 1, lines)
			if total, files := logDiskUse(t, c); files != maxFiles || total > maxSize*maxFiles {
				t.Errorf("log %d bytes in %d files", total, files)
			}
		})
	}
}
