package hull

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error hull returns that falls in one of these
// categories wraps the sentinel, so callers test with errors.Is:
//
//	if errors.Is(err, hull.ErrNotFound) { ... }
var (
	// ErrNotFound: the image, tag, blob or object named does not exist
	// (locally, or in the registry).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the operation conflicts with current state, such as
	// removing an image that a container still uses.
	ErrConflict = errors.New("conflict")
	// ErrInvalidReference: a string is not a valid image reference.
	ErrInvalidReference = errors.New("invalid reference")
	// ErrInvalidArgument: an option or argument is malformed.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnauthorized: the registry refused the credentials (or their absence).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrInvalidContent: downloaded or imported content is malformed or does
	// not match its digest (a hostile or corrupt layer, manifest or config).
	ErrInvalidContent = errors.New("invalid content")
	// ErrUnsupported: the operation is not supported on this platform or for
	// this content (for example a schema1 manifest).
	ErrUnsupported = errors.New("unsupported")
	// ErrInvalidDockerfile: a Dockerfile cannot be built: bad syntax, an
	// unknown instruction or flag, a stage or argument that does not
	// exist. The error names the file and line.
	ErrInvalidDockerfile = errors.New("invalid Dockerfile")
	// ErrClosed: the Runtime was closed.
	ErrClosed = errors.New("runtime closed")
	// ErrUnhealthy: the container's health check failed as many times in
	// a row as its Retries allow (Container.WaitHealthy).
	ErrUnhealthy = errors.New("unhealthy")
)

// RegistryError is a failed reply from a registry. It wraps ErrUnauthorized
// for 401/403 replies and ErrNotFound for 404 replies, so errors.Is works on
// it as on any other hull error.
type RegistryError struct {
	Registry   string // host[:port] that answered
	StatusCode int    // HTTP status of the reply
	Code       string // registry error code, e.g. MANIFEST_UNKNOWN (may be empty)
	Message    string // registry message (may be empty)
}

// Error implements error.
func (e *RegistryError) Error() string {
	msg := fmt.Sprintf("registry %s: HTTP %d", e.Registry, e.StatusCode)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap maps the status code to a sentinel error.
func (e *RegistryError) Unwrap() error {
	switch e.StatusCode {
	case 401, 403:
		return ErrUnauthorized
	case 404:
		return ErrNotFound
	}
	return nil
}
