package initproc

import "time"

// ExitName is the file a Detached container's shim writes in the
// container's directory when the container's PID 1 ends (writeExit), for
// whichever process looks at the container next.
const ExitName = "exit.json"

// Exit is the content of exit.json.
type Exit struct {
	Code       int       `json:"exitCode"`
	Signal     int       `json:"signal,omitempty"`
	OOMKilled  bool      `json:"oomKilled,omitempty"`
	FinishedAt time.Time `json:"finishedAt"`
}
