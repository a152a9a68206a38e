package hull

// logsDone reports whether no more output will be logged: the container
// exited and its owner finished copying its output (it marks the state
// exited only then), or there is no one left to write it.
func (c *Container) logsDone() bool {
	if lp := c.lp; lp != nil {
		select {
		case <-lp.done:
			return true
		default:
			return false
		}
	}
	st, err := readState(c.rt.containerDir(c.id))
	if err != nil {
		return true // removed
	}
	return st.Status == StatusExited || !st.alive() && !st.ownerAlive()
}
