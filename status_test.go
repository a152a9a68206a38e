package hull

import (
	"errors"
	"testing"
)

// TestTransitions walks every action from every status: a refused one is
// a *TransitionError (ErrConflict) that leaves the state untouched; an
// allowed one leads where the diagram in status.go says.
func TestTransitions(t *testing.T) {
	want := map[action]map[Status]Status{ // from -> to; missing: refused
		actCreate:  {statusNone: StatusCreated},
		actStart:   {StatusCreated: StatusRunning},
		actRespawn: {StatusExited: StatusCreated},
		actPause:   {StatusRunning: StatusPaused},
		actResume:  {StatusPaused: StatusRunning},
		actExit:    {StatusCreated: StatusExited, StatusRunning: StatusExited, StatusPaused: StatusExited},
		actRemove:  {StatusCreated: statusNone, StatusRunning: statusNone, StatusPaused: statusNone, StatusExited: statusNone},
		actStop:    {StatusRunning: StatusRunning, StatusPaused: StatusPaused},
		actStats:   {StatusRunning: StatusRunning, StatusPaused: StatusPaused},
		actTop:     {StatusRunning: StatusRunning, StatusPaused: StatusPaused},
		actAttach:  {StatusCreated: StatusCreated, StatusRunning: StatusRunning, StatusPaused: StatusPaused},
		actExec:    {StatusRunning: StatusRunning},
	}
	if len(want) != len(transitions) {
		t.Errorf("%d actions tested, %d in transitions", len(want), len(transitions))
	}
	for a, rows := range want {
		for _, from := range []Status{statusNone, StatusCreated, StatusRunning, StatusPaused, StatusExited} {
			st := containerState{ID: "c", Status: from, ExitCode: 3}
			err := st.apply(a, &exitRecord{code: 5})
			to, ok := rows[from]
			var te *TransitionError
			switch {
			case !ok && (!errors.As(err, &te) || !errors.Is(err, ErrConflict) || te.Status != from || st.Status != from || st.ExitCode != 3):
				t.Errorf("%s from %q: %v, state %+v; want refused, untouched", a, from, err, st)
			case ok && (err != nil || st.Status != to):
				t.Errorf("%s from %q: %v, status %q; want %q", a, from, err, st.Status, to)
			case ok && a == actExit && st.ExitCode != 5:
				t.Errorf("exit from %q: exit code %d, want 5", from, st.ExitCode)
			case ok && a == actRespawn && st.ExitCode != 0:
				t.Errorf("respawn: exit code %d, want cleared", st.ExitCode)
			}
		}
	}
}
