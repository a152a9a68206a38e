package hull

import (
	"encoding/json"
	"path/filepath"
	"sync"

	"github.com/hullbox/hull/internal/attach"
	"github.com/hullbox/hull/internal/fsutil"
	"github.com/hullbox/hull/internal/initproc"
)

// A created container waits for its Start with no process (Create vs
// Start, docs/containers.md): what Create keeps for that Start here.

// pendingStart is what Create keeps for the Start that launches the
// container's init in the same Runtime: its config and run options
// (writers, stdin, the attach socket served meanwhile). A Start from
// another Runtime reads the same from config.json and state.json.
type pendingStart struct {
	cfg *initproc.Config
	rc  *runConfig
	// launched is closed when the pending start is over: launched,
	// removed or started elsewhere (Wait waits for it).
	launched chan struct{}
}

// prepare is the end of Create: the networks' addresses and files,
// config.json, the state with its addresses, the attach socket of an
// owned container, and the container made this Runtime's, waiting for
// Start. The caller's rollback (cleanup) undoes it.
func (c *Container) prepare(st containerState, cfg *initproc.Config, rc *runConfig) error {
	rt := c.rt
	dir := rt.containerDir(c.id)
	err := rt.prepareNetworks(&st, cfg, rc, true) // network_attach_linux.go
	c.mu.Lock()
	c.st = st // with its addresses: what cleanup releases
	c.mu.Unlock()
	if err != nil {
		return err
	}
	initproc.Trace("P networks prepared")
	// A Start in another process reads it (as a restart does); replaced
	// whole, never torn.
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, "config.json"), mustJSON(cfg), 0o600, fsutil.Exchange()); err != nil {
		return err
	}
	if len(st.Networks) > 0 {
		if err := writeState(dir, &st); err != nil { // its addresses, for every reader
			return err
		}
	}
	if !rc.stdio.detached {
		// Served from now on: a client attached before Start sees all of
		// the output (a Detached container's shim serves it from Start).
		srv, err := attach.Listen(dir)
		if err != nil {
			return err
		}
		rc.attachSrv = srv
	}
	c.mu.Lock()
	c.pending = &pendingStart{cfg: cfg, rc: rc, launched: make(chan struct{})}
	c.mu.Unlock()
	rt.own(c)
	// A Close that ran meanwhile did not see this container.
	return rt.checkOpen()
}

// own makes c one of the containers this Runtime owns (Close removes them).
func (rt *Runtime) own(c *Container) {
	rt.ctrs.mu.Lock()
	defer rt.ctrs.mu.Unlock()
	if rt.ctrs.owned == nil {
		rt.ctrs.owned = map[string]*Container{}
	}
	rt.ctrs.owned[c.id] = c
}

// dropPendingLocked ends the pending start, if any: its attach socket is
// closed unless the launch took it, and Wait is woken. With c.mu held.
func (c *Container) dropPendingLocked() {
	p := c.pending
	if p == nil {
		return
	}
	c.pending = nil
	if p.rc.attachSrv != nil {
		_ = p.rc.attachSrv.Close()
		p.rc.attachSrv = nil
	}
	close(p.launched)
}

// isPending reports whether this Runtime created the container and no
// init has been launched for it yet.
func (c *Container) isPending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending != nil
}

// warmJSON has encoding/json build, on another core, its encoders for
// what a Create writes (config.json's OCI spec, the state): built on
// first use, they cost a one-shot process (`hull run`) about a
// millisecond on its critical path, which a long-lived program pays once.
// Marshalling zero values builds them all: encoding/json makes the
// encoder of every type a struct reaches, nil pointers' included.
var warmJSON = sync.OnceFunc(func() {
	go func() {
		_, _ = json.Marshal(&initproc.Config{})
		_, _ = json.Marshal(&containerState{})
	}()
})
