package compose

import (
	"fmt"

	"github.com/hullbox/hull"
)

// FieldError is a problem with one field of one service (or of a network
// or volume) of a compose file, found before anything starts. It wraps
// hull.ErrUnsupported for a field hull cannot honour, and
// hull.ErrInvalidArgument for a value that is wrong.
type FieldError struct {
	File    string // the compose file
	Service string // the service, or "networks.<name>" / "volumes.<name>"
	Field   string // the field, as in the file: "ports[1]", "deploy.resources.reservations"
	Err     error
}

// Error says "<file>: service "<name>": <field>: <what is wrong>".
func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: service %q: %s: %v", e.File, e.Service, e.Field, e.Err)
}

// Unwrap returns Err, for errors.Is (hull.ErrUnsupported,
// hull.ErrInvalidArgument, hull.ErrConflict) and errors.As.
func (e *FieldError) Unwrap() error { return e.Err }

// unsupported is the error of a field hull has no equivalent of.
func (p *Project) unsupported(service, field string) error {
	return &FieldError{File: p.file(), Service: service, Field: field,
		Err: fmt.Errorf("%w: hull has no equivalent of this field", hull.ErrUnsupported)}
}

// invalid is the error of a bad value.
func (p *Project) invalid(service, field string, err error) error {
	return &FieldError{File: p.file(), Service: service, Field: field,
		Err: fmt.Errorf("%w: %w", hull.ErrInvalidArgument, err)}
}
