package hull

import (
	"fmt"

	"github.com/hullbox/hull/internal/logfile"
)

// The default bound of a container's log: DefaultLogMaxFiles files of
// DefaultLogMaxSize bytes (`--log-opt max-size=10m --log-opt max-file=3`
// in Docker's terms), 30 MB at most per container.
//
// Docker's json-file default is no bound at all. hull's differs because
// its users run tests: a test suite starts many containers in a
// throwaway root, often on a tmpfs (RAM), and a single runaway one (a
// `yes` loop writes about 28 MB/s) would otherwise fill the disk in
// minutes and fail every other test of the run. 30 MB is far more than a
// test reads back (about 300,000 lines of 40 characters), and costs
// nothing when the output is small. Logs reads the kept files as one.
const (
	DefaultLogMaxSize  int64 = 10_000_000
	DefaultLogMaxFiles int64 = 3
)

// LogMaxSizeUnlimited given to WithLogMaxSize keeps the log in one file
// that grows without bound, as Docker does when no max-size is set.
const LogMaxSizeUnlimited int64 = -1

// maxLogFiles bounds WithLogMaxFiles: a file name per rotated file, and
// an int on every platform.
const maxLogFiles = 1 << 20

// logLimits are WithLogMaxSize and WithLogMaxFiles; zero: the default.
type logLimits struct {
	maxSize  int64
	maxFiles int64
}

// WithLogMaxSize rotates the container's log when it reaches bytes, as
// Docker's json-file `--log-opt max-size`: the log goes on in a new file
// and the oldest of WithLogMaxFiles files is dropped, so that the log
// takes at most bytes*files on disk (an entry is at most 16 KiB of
// output, and goes to a new file rather than take one past bytes).
// LogMaxSizeUnlimited keeps one file without bound. Default:
// DefaultLogMaxSize (Docker's is unlimited: see DefaultLogMaxSize for
// why). The log is written by whoever keeps the container's output (its
// creator, or a Detached container's shim) and read by Logs, across the
// kept files; a Restart keeps the limits.
func WithLogMaxSize(bytes int64) RunOption {
	return func(c *runConfig) error {
		if bytes <= 0 && bytes != LogMaxSizeUnlimited {
			return fmt.Errorf("%w: WithLogMaxSize(%d): want a positive size, or LogMaxSizeUnlimited", ErrInvalidArgument, bytes)
		}
		c.logs.maxSize = bytes
		return nil
	}
}

// WithLogMaxFiles is how many files the container's log keeps, the live
// one included, as Docker's json-file `--log-opt max-file`: 1 <= n <=
// 2^20; with 1, a rotation starts the log afresh. It has no effect with
// LogMaxSizeUnlimited. Default: DefaultLogMaxFiles.
func WithLogMaxFiles(n int64) RunOption {
	return func(c *runConfig) error {
		if n < 1 || n > maxLogFiles {
			return fmt.Errorf("%w: WithLogMaxFiles(%d): want 1 to %d files", ErrInvalidArgument, n, maxLogFiles)
		}
		c.logs.maxFiles = n
		return nil
	}
}

// limits are the log's limits for the log writer (initproc.Config.Log),
// defaults applied.
func (l logLimits) limits() logfile.Limits {
	lim := logfile.Limits{MaxSize: l.maxSize, MaxFiles: int(l.maxFiles)}
	if lim.MaxSize == 0 {
		lim.MaxSize = DefaultLogMaxSize
	}
	if lim.MaxSize < 0 {
		return logfile.Limits{}
	}
	if lim.MaxFiles == 0 {
		lim.MaxFiles = int(DefaultLogMaxFiles)
	}
	return lim
}
