package hull

import (
	"fmt"
	"slices"
	"time"
)

// Status is a container's status, as ContainerInspect.State.Status
// reports it (Docker's names).
type Status string

// The statuses of a container.
const (
	StatusCreated Status = "created" // Start has not run its command: no process yet, or an init waiting for it
	StatusRunning Status = "running"
	StatusPaused  Status = "paused" // frozen (Pause)
	StatusExited  Status = "exited"

	// statusNone is a container not created yet, or removed: never
	// written to state.json; the reaper of a removed one records nothing.
	statusNone Status = ""
)

// action is something done to a container: each has a row in transitions.
type action string

const (
	actCreate  action = "create"  // Create reserved it: no process until Start
	actStart   action = "start"   // its command was exec'd
	actRespawn action = "respawn" // Start of an exited one: a new init follows
	actPause   action = "pause"
	actResume  action = "resume"
	actExit    action = "die"    // its init ended: the reaper, Open's recovery, a shim's exit.json
	actRemove  action = "remove" // its process is gone (killed first if need be)
	actStop    action = "stop"   // Stop, Kill: nothing changes until actExit
	actStats   action = "stats"
	actTop     action = "top"
	actAttach  action = "attach"
	actExec    action = "exec"
)

// transition is a row of the state machine: the statuses an action is
// allowed from and the one it leads to, or same for an action that needs
// a status but does not change it.
type transition struct {
	from []Status
	to   Status
	same bool // the status stays
}

// transitions is the container state machine. Every change of a
// container's status is one of these rows, made by containerState.apply.
//
//	(none) --create--> created --start--> running --pause--> paused --resume--> running
//	created/running/paused --die--> exited --respawn--> created
//	any --remove--> (none)
//
// A container created has no process until Start launches its init
// (launchCreated), which then runs the command (start): created --die-->
// exited is an init that ended before that. Restart is stop (then die),
// respawn and start; Start of a running container does nothing, as
// `docker start`.
var transitions = map[action]transition{
	actCreate:  {from: []Status{statusNone}, to: StatusCreated},
	actStart:   {from: []Status{StatusCreated}, to: StatusRunning},
	actRespawn: {from: []Status{StatusExited}, to: StatusCreated},
	actPause:   {from: []Status{StatusRunning}, to: StatusPaused},
	actResume:  {from: []Status{StatusPaused}, to: StatusRunning},
	actExit:    {from: []Status{StatusCreated, StatusRunning, StatusPaused}, to: StatusExited},
	// Remove ends the process first: whatever was recorded, it is gone.
	actRemove: {from: []Status{StatusCreated, StatusRunning, StatusPaused, StatusExited}, to: statusNone},
	actStop:   {from: []Status{StatusRunning, StatusPaused}, same: true},
	actStats:  {from: []Status{StatusRunning, StatusPaused}, same: true},
	actTop:    {from: []Status{StatusRunning, StatusPaused}, same: true},
	actAttach: {from: []Status{StatusCreated, StatusRunning, StatusPaused}, same: true},
	actExec:   {from: []Status{StatusRunning}, same: true},
}

// allowed reports whether a may be done to a container in status s.
func allowed(a action, s Status) bool { return slices.Contains(transitions[a].from, s) }

// exitRecord is how a container's init ended, as actExit records it.
type exitRecord struct {
	code, signal int
	oomKilled    bool
	at           time.Time
}

// apply makes the transition a on st, or returns a *TransitionError and
// leaves st as it was. It sets what the transition means besides the
// status: the start time, the exit (ex, for actExit, with its time, zero
// if not known; nil is "killed now": 137), a new run's cleared exit. The
// caller holds what guards st (the Container's mu) and writes the state.
func (st *containerState) apply(a action, ex *exitRecord) error {
	t, ok := transitions[a]
	if !ok {
		panic("hull: no transition for " + string(a))
	}
	if !slices.Contains(t.from, st.Status) {
		return &TransitionError{ID: st.ID, Action: string(a), Status: st.Status}
	}
	if t.same {
		return nil
	}
	st.Status = t.to
	switch a {
	case actStart:
		st.StartedAt = time.Now().UTC()
		if st.Healthcheck != nil { // a new run starts unchecked; the log stays, as Docker's
			st.Health = &HealthState{Status: HealthStarting, Log: st.Health.clone().logOrNil()}
		}
	case actRespawn:
		st.Error, st.ExitCode, st.ExitSignal, st.OOMKilled = "", 0, 0, false
		st.Restarting = false
	case actExit:
		if ex == nil {
			ex = &exitRecord{code: 137, signal: 9, at: time.Now().UTC()}
		}
		st.ExitCode, st.ExitSignal, st.OOMKilled = ex.code, ex.signal, ex.oomKilled
		st.FinishedAt = ex.at
	}
	return nil
}

// TransitionError is the error of an action the container's state does
// not allow, such as pausing an exited container. It wraps ErrConflict.
type TransitionError struct {
	ID     string // container ID
	Action string // "pause", "resume", "start", "stats"...
	Status Status // the container's status when it was refused
}

// Error names the action, the container and its status.
func (e *TransitionError) Error() string {
	return fmt.Sprintf("%s container %s: %v: container is %s", e.Action, shortContainerID(e.ID), ErrConflict, e.Status)
}

// Unwrap returns ErrConflict: errors.Is(err, ErrConflict) holds.
func (e *TransitionError) Unwrap() error { return ErrConflict }

// transition applies a to the container's state under c.mu, records it
// and sends event ("" for none).
func (c *Container) transition(a action, ex *exitRecord, event string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transitionLocked(a, ex, event)
}

// transitionLocked is transition with c.mu held. A removed container's
// state is not written (its directory is going).
func (c *Container) transitionLocked(a action, ex *exitRecord, event string) error {
	if err := c.st.apply(a, ex); err != nil {
		return err
	}
	var err error
	if c.st.Status != statusNone {
		err = writeState(c.rt.containerDir(c.id), &c.st)
	}
	if event != "" {
		c.eventLocked(event, nil)
	}
	return err
}

// status is the container's current status, checked against its process.
func (c *Container) status() Status {
	st, _ := c.snapshot() // a read error: the state it knew
	return st.Status
}

// check returns a *TransitionError unless the container's current status
// allows a.
func (c *Container) check(a action) error {
	if s := c.status(); !allowed(a, s) {
		return &TransitionError{ID: c.id, Action: string(a), Status: s}
	}
	return nil
}

// gone is the *TransitionError of action a on a container found not
// running: its status, or exited if the record lags behind.
func (c *Container) gone(a action) error {
	if err := c.check(a); err != nil {
		return err
	}
	return &TransitionError{ID: c.id, Action: string(a), Status: StatusExited}
}
