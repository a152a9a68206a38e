package hull

import "errors"

// alsoIs returns err, made to match the public sentinel pub too if it
// wraps the internal package's sentinel internal; the message is err's.
// Internal packages cannot import hull's sentinels (errors.go), so their
// callers map them here.
func alsoIs(err, internal, pub error) error {
	if err != nil && errors.Is(err, internal) {
		return sentinelError{err, pub}
	}
	return err
}

// sentinelError is err that errors.Is also finds to be is.
type sentinelError struct{ err, is error }

func (e sentinelError) Error() string        { return e.err.Error() }
func (e sentinelError) Unwrap() error        { return e.err }
func (e sentinelError) Is(target error) bool { return target == e.is }
