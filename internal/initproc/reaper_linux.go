package initproc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/hullbox/hull/internal/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ReaperEnv makes a Go init start as a reaper's child (WithInit): the C
// constructor in reaper.c forks before the Go runtime starts; the parent
// stays the container's PID 1 in C, single-threaded, reaping orphans and
// passing signals on, with the command's user and no capability; the
// child goes on as the init, and execs the command as PID 2. Hull sets it
// with Env on the init it starts; the constructor unsets it.
const ReaperEnv = "_HULL_REAPER"

// reaperFD is the init's socket to its reaper (HULL_REAPER_FD in
// reaper.h).
const reaperFD = 6

// maxReaperGroups and maxReaperFilter are HULL_REAPER_MAX_GROUPS and
// HULL_REAPER_MAX_FILTER in reaper.h.
const (
	maxReaperGroups = 64
	maxReaperFilter = 4096
)

// errReaperNoCgo is the init's answer to ReaperEnv when reaper.c is not
// linked in.
var errReaperNoCgo = errors.New("WithInit needs a build with cgo")

// confineReaper sends the reaper the command's user and groups and the
// container's seccomp program (struct hull_reaper_creds, then the
// instructions) and waits until it has taken them and dropped every
// capability, so that PID 1 holds no more than the container before
// anything of the container runs.
func confineReaper(s *specs.Spec) error {
	sock := os.NewFile(reaperFD, "reaper")
	defer sock.Close()
	p := s.Process
	groups := p.User.AdditionalGids
	if len(groups) > maxReaperGroups {
		return fmt.Errorf("%d supplementary groups: WithInit takes at most %d", len(groups), maxReaperGroups)
	}
	prog := seccompProg
	if prog == nil && s.Linux != nil && s.Linux.Seccomp != nil {
		var err error
		if prog, err = seccomp.CompileCached(s.Linux.Seccomp); err != nil {
			return fmt.Errorf("seccomp: %w", err)
		}
	}
	if len(prog) > maxReaperFilter {
		return fmt.Errorf("seccomp program of %d instructions: WithInit takes at most %d", len(prog), maxReaperFilter)
	}
	buf := make([]byte, 4*(4+maxReaperGroups), 4*(4+maxReaperGroups)+8*len(prog))
	binary.NativeEndian.PutUint32(buf[0:], p.User.UID)
	binary.NativeEndian.PutUint32(buf[4:], p.User.GID)
	binary.NativeEndian.PutUint32(buf[8:], uint32(len(groups)))
	for i, g := range groups {
		binary.NativeEndian.PutUint32(buf[12+4*i:], g)
	}
	binary.NativeEndian.PutUint32(buf[12+4*maxReaperGroups:], uint32(len(prog)))
	for _, f := range prog { // struct sock_filter
		buf = binary.NativeEndian.AppendUint16(buf, f.Code)
		buf = append(buf, f.Jt, f.Jf)
		buf = binary.NativeEndian.AppendUint32(buf, f.K)
	}
	if _, err := sock.Write(buf); err != nil {
		return fmt.Errorf("reaper: %w", err)
	}
	var ack [1]byte
	if n, err := sock.Read(ack[:]); n != 1 {
		return fmt.Errorf("reaper: no answer: %v", err)
	}
	return nil
}
