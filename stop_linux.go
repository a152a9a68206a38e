package hull

import (
	"context"
	"time"
)

// defaultStopTimeout is how long Stop waits before SIGKILL when neither
// the caller nor WithStopTimeout says (Docker's 10 seconds).
const defaultStopTimeout = 10 * time.Second

func (st *containerState) stopTimeout() time.Duration {
	if st.StopTimeout != nil {
		return *st.StopTimeout
	}
	return defaultStopTimeout
}

// autoRemove removes an exited container made WithAutoRemove. The reaper
// calls it once the exit is recorded.
func (c *Container) autoRemove() {
	c.mu.Lock()
	auto := c.st.AutoRemove && c.st.Status != ""
	c.mu.Unlock()
	if auto {
		_ = c.Remove(context.Background(), WithRemoveVolumes()) // docker run --rm removes them too
	}
}
