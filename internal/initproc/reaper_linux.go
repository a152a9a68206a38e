package initproc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

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

// maxReaperGroups is HULL_REAPER_MAX_GROUPS in reaper.h.
const maxReaperGroups = 64

// errReaperNoCgo is the init's answer to ReaperEnv when reaper.c is not
// linked in.
var errReaperNoCgo = errors.New("WithInit needs a build with cgo")

// confineReaper sends the reaper the command's user and groups
// (struct hull_reaper_creds) and waits until it has taken them and
// dropped every capability, so that PID 1 holds no more than the
// container before anything of the container runs.
func confineReaper(p *specs.Process) error {
	sock := os.NewFile(reaperFD, "reaper")
	defer sock.Close()
	groups := p.User.AdditionalGids
	if len(groups) > maxReaperGroups {
		return fmt.Errorf("%d supplementary groups: WithInit takes at most %d", len(groups), maxReaperGroups)
	}
	buf := make([]byte, 4*(3+maxReaperGroups))
	binary.NativeEndian.PutUint32(buf[0:], p.User.UID)
	binary.NativeEndian.PutUint32(buf[4:], p.User.GID)
	binary.NativeEndian.PutUint32(buf[8:], uint32(len(groups)))
	for i, g := range groups {
		binary.NativeEndian.PutUint32(buf[12+4*i:], g)
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
