// Package statedir owns the layout of a root's containers directory:
// containers/<id>/, one directory per container (an ID of 64 hex digits)
// holding its state file; containers/.recovery/unsettled/, the list of
// the containers Open's recovery must look at; containers/.names/, the
// name index (names.go); and containers/.recovery/states, the listing
// cache (cache.go). What a state holds and means is hull's; this package
// finds the files, keeps the list and the index, and reads many states at
// once.
package statedir

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/hullbox/hull/internal/fsutil"
)

// RecoveryDir is the name of containers/.recovery, what Open's recovery
// keeps: unsettled/ (MarkUnsettled) and the record of the boot it last
// read every state in.
const RecoveryDir = ".recovery"

// unsettledDir lists the containers that are not settled, one symlink
// each, <id> -> ../../<id>: one syscall to make.
func unsettledDir(dir string) string { return filepath.Join(dir, RecoveryDir, "unsettled") }

// MarkUnsettled lists container id of the containers directory dir as not
// settled; listed already is not an error. The list is not synced: a
// machine crash that loses an entry also killed the container, and the
// first Open after it reads every state.
func MarkUnsettled(dir, id string) error {
	link := filepath.Join(unsettledDir(dir), id)
	err := os.Symlink(filepath.Join("..", "..", id), link)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(link), 0o700); err == nil {
			err = os.Symlink(filepath.Join("..", "..", id), link)
		}
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("list container %.12s as unsettled: %w", id, err)
	}
	return nil
}

// UnmarkUnsettled drops container id from the list; not listed is not an
// error.
func UnmarkUnsettled(dir, id string) error {
	err := os.Remove(filepath.Join(unsettledDir(dir), id))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// MkdirRecovery makes containers/.recovery in the containers directory
// dir (and dir itself) if missing.
func MkdirRecovery(dir string) error { return os.MkdirAll(filepath.Join(dir, RecoveryDir), 0o700) }

// IDs returns the IDs of the containers that have a directory in dir,
// sorted.
func IDs(dir string) ([]string, error) {
	ids, _, err := Scan(dir)
	return ids, err
}

// RemovingPrefix starts the name a container's directory is renamed to
// when it is removed, before its files are: <RemovingPrefix><id>.
const RemovingPrefix = ".removing-"

// Scan is IDs, and also returns the paths of the directories of
// containers whose removal died half done (RemovingPrefix), which whoever
// lists removes: one read of the directory finds both.
func Scan(dir string) (ids, removing []string, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	ids = make([]string, 0, len(entries))
	for _, e := range entries {
		switch name := e.Name(); {
		case len(name) == 64 && e.IsDir():
			ids = append(ids, name)
		case strings.HasPrefix(name, RemovingPrefix):
			removing = append(removing, filepath.Join(dir, name))
		}
	}
	return ids, removing, nil
}

// Unsettled returns the IDs MarkUnsettled listed, sorted.
func Unsettled(dir string) ([]string, error) {
	entries, err := os.ReadDir(unsettledDir(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		if len(e.Name()) == 64 {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// PerWorker is the fewest states ReadAll gives a goroutine of its own.
const PerWorker = 128

// ReadAll calls read for each of ids and returns the results in the
// order of ids. Past a few hundred it reads on every CPU: parsing a
// state's JSON is most of the cost (about 25 µs a state), and hull ps -a
// reads every state.
func ReadAll[T any](ids []string, read func(id string) (T, error)) ([]T, []error) {
	out := make([]T, len(ids))
	errs := readAll(len(ids), func(i int) (err error) {
		out[i], err = read(ids[i])
		return err
	})
	return out, errs
}

// readAll calls read for each index below n, on every CPU when n is
// large (ReadAll), and returns the errors by index.
func readAll(n int, read func(i int) error) []error {
	errs := make([]error, n)
	span := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			errs[i] = read(i)
		}
	}
	if workers := min(runtime.GOMAXPROCS(0), n/PerWorker); workers > 1 {
		var wg sync.WaitGroup
		per := (n + workers - 1) / workers
		for lo := 0; lo < n; lo += per {
			wg.Go(func() { span(lo, min(lo+per, n)) })
		}
		wg.Wait()
	} else {
		span(0, n)
	}
	return errs
}

// genFile is containers/.recovery/gen, the settle generation: a random
// value that Open's recovery replaces (BumpGen) before it drops any
// container from the unsettled list. See ReadStates: a listing cache made
// under the generation a listing reads holds, for each container not
// listed as unsettled, its current state.
const genFile = "gen"

// Gen returns the settle generation of the containers directory dir: ""
// if there is none yet (a root of an older hull), which trusts nothing.
func Gen(dir string) (string, error) {
	data, err := fsutil.ReadSmallFile(filepath.Join(dir, RecoveryDir, genFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return string(data), err
}

// BumpGen replaces the settle generation with a new random one. The
// caller holds the containers lock, and drops containers from the
// unsettled list only after it returns.
func BumpGen(dir string) error {
	var b [16]byte
	_, _ = rand.Read(b[:])
	path := filepath.Join(dir, RecoveryDir, genFile)
	err := fsutil.WriteFileAtomic(path, []byte(hex.EncodeToString(b[:])), 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		if err = MkdirRecovery(dir); err == nil {
			err = fsutil.WriteFileAtomic(path, []byte(hex.EncodeToString(b[:])), 0o600)
		}
	}
	return err
}
