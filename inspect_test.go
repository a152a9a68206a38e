package hull

import (
	"context"
	"testing"
)

// inspect is x.Inspect(t.Context()) for tests: it fails the test on an
// error.
func inspect[T any](t testing.TB, x interface {
	Inspect(context.Context) (T, error)
}) T {
	t.Helper()
	in, err := x.Inspect(t.Context())
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	return in
}
