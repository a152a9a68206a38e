package hull

// The nsenter constructor must be linked into every program that uses
// hull, for Container.Exec: it runs only when hull re-executes itself to
// exec into a container.
import _ "github.com/hullbox/hull/internal/nsenter"
