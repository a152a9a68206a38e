package hull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// runMount is a RUN --mount hull supports: type=cache (a directory of
// the store that outlives the step and the build, shared by the steps
// that name the same id) or type=tmpfs.
type runMount struct {
	Type    string `json:"type"`
	Target  string `json:"target"`
	ID      string `json:"id,omitempty"`
	Sharing string `json:"sharing,omitempty"`
	RO      bool   `json:"ro,omitempty"`
	UID     uint64 `json:"uid,omitempty"`
	GID     uint64 `json:"gid,omitempty"`
	Mode    uint64 `json:"mode,omitempty"`
	Data    string `json:"data,omitempty"` // type "script": a heredoc run as a file, named ID
}

// runMounts checks a RUN's --mount flags and returns the mounts and
// their part of the step's cache key (what is in a cache mount is not:
// as with BuildKit, it does not make the step run again).
func (b *builder) runMounts(st *stageState, ms []*instructions.Mount) ([]runMount, string, error) {
	var out []runMount
	for _, m := range ms {
		target := m.Target
		if !path.IsAbs(target) {
			wd := st.conf.Config.WorkingDir
			if wd == "" {
				wd = "/"
			}
			target = path.Join(wd, target)
		}
		rm := runMount{Type: string(m.Type), Target: path.Clean(target), RO: m.ReadOnly}
		switch m.Type {
		case instructions.MountTypeCache:
			if m.From != "" || m.Source != "" {
				return nil, "", fmt.Errorf("RUN --mount=type=cache,from=... is not supported by hull's builder")
			}
			rm.ID, rm.Sharing = m.CacheID, string(m.CacheSharing)
			if rm.ID == "" {
				rm.ID = rm.Target
			}
			rm.Mode = 0o755
			if m.Mode != nil {
				rm.Mode = *m.Mode
			}
			if m.UID != nil {
				rm.UID = *m.UID
			}
			if m.GID != nil {
				rm.GID = *m.GID
			}
		case instructions.MountTypeTmpfs:
		default:
			return nil, "", fmt.Errorf("RUN --mount=type=%s is not supported by hull's builder (type=cache and type=tmpfs are)", m.Type)
		}
		out = append(out, rm)
	}
	key, _ := json.Marshal(out)
	return out, string(key), nil
}

// mountOption makes the RunOption of m, and the function that releases
// what it holds after the step (a cache mount's lock with
// sharing=locked, a script's directory).
func (b *builder) mountOption(ctx context.Context, m runMount) (RunOption, func(), error) {
	switch m.Type {
	case string(instructions.MountTypeTmpfs):
		return WithTmpfs(m.Target, ""), nil, nil
	case "script":
		// A directory of its own, read-only at /dev/pipes, as BuildKit
		// mounts a heredoc that starts with "#!".
		dir, err := os.MkdirTemp("", "hull-build-script-")
		if err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, m.ID), []byte(m.Data), 0o755); err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
		os.Chmod(dir, 0o755)
		return WithBind(dir, m.Target, WithReadOnly()), func() { os.RemoveAll(dir) }, nil
	}
	sum := sha256.Sum256([]byte(m.ID))
	name := hex.EncodeToString(sum[:16])
	dir := filepath.Join(b.rt.store.Root(), "buildmounts", name)
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, nil, err
	}
	if err := os.Mkdir(dir, os.FileMode(m.Mode&0o7777)); err == nil {
		if err := os.Chown(dir, int(m.UID), int(m.GID)); err != nil {
			return nil, nil, err
		}
		_ = os.Chmod(dir, os.FileMode(m.Mode&0o777)) // past the umask
	} else if !os.IsExist(err) {
		return nil, nil, err
	}
	var unlock func()
	if m.Sharing == string(instructions.MountSharingLocked) {
		l, err := b.rt.store.Lock(ctx, "buildmount-"+name)
		if err != nil {
			return nil, nil, err
		}
		unlock = l.Unlock
	}
	var opts []MountOption
	if m.RO {
		opts = append(opts, WithReadOnly())
	}
	return WithBind(dir, m.Target, opts...), unlock, nil
}
