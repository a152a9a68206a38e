package initproc

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"testing"
)

var updateOpsHeader = flag.Bool("update-ops-header", false, "rewrite plan_ops.h from plan_ops_linux.go")

// TestPlanOpsHeader: plan_ops.h, which plan.c numbers its ops and failure
// points by, is what plan_ops_linux.go generates (go generate rewrites it).
func TestPlanOpsHeader(t *testing.T) {
	want := planOpsHeader()
	if *updateOpsHeader {
		if err := os.WriteFile("plan_ops.h", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("plan_ops.h")
	if errors.Is(err, fs.ErrNotExist) {
		// A test binary run away from its sources (scripts/vmtest.sh):
		// the build that made it had the header.
		t.Skip("plan_ops.h is not here: the test runs outside the source tree")
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("plan_ops.h is stale: run go generate ./internal/initproc")
	}
}

// TestPlanExecutors: every op has a name, a Go executor but for the C-only
// ones and a C executor but for the Go-only ones; plan.c has none beyond
// them.
func TestPlanExecutors(t *testing.T) {
	for op := uint32(1); op < opCount; op++ {
		info := planOps[op]
		if info.name == "" {
			t.Errorf("op %d has no name", op)
		}
		if (goExecutors[op] == nil) != info.cOnly {
			t.Errorf("op %d (%s): cOnly %v, Go executor: %v", op, info.name, info.cOnly, goExecutors[op] != nil)
		}
		if planAvailable && cExecutes(op) == info.goOnly {
			t.Errorf("op %d (%s): goOnly %v, plan.c executes it: %v", op, info.name, info.goOnly, cExecutes(op))
		}
	}
	for _, op := range []uint32{0, opCount, opCount + 1, 1 << 31} {
		if cExecutes(op) {
			t.Errorf("plan.c executes op %d, which does not exist", op)
		}
	}
	for f, name := range failNames {
		if name == "" {
			t.Errorf("failure point %d has no name", f)
		}
	}
}
