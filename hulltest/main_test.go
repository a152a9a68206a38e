package hulltest_test

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/hullbox/hull/hulltest"
)

// TestMain skips the examples where containers cannot run: an example
// cannot skip itself, and its output would not match. The tests skip
// themselves, saying why.
func TestMain(m *testing.M) {
	flag.Parse()
	if reason := hulltest.Missing(); reason != "" {
		fmt.Fprintf(os.Stderr, "hulltest: examples skipped: %s\n", reason)
		flag.Set("test.skip", "^Example")
	}
	os.Exit(m.Run())
}
