//go:build !hullcompose

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// composePlugin is the binary that serves `hull compose`: this command
// built with the hullcompose tag (go build -tags hullcompose -o
// hull-compose ./cmd/hull). Compose lives in a binary of its own, as
// Docker's compose is a CLI plugin, because compose-go's dependencies cost
// every start of a program that links them: jsonschema compiles its
// meta-schemas at init (4.7 ms), which would double `hull --version` and
// add to every `hull run`.
const composePlugin = "hull-compose"

// composeCmd is `hull compose` in the hull binary: it takes compose's
// global flags (so that usage errors and help read the same) and then
// replaces this process with hull-compose, found next to this binary or
// on $PATH, given the same arguments.
func composeCmd() *command {
	return &command{
		name: "compose", args: "COMMAND", maxArgs: -1,
		short: "Define and run multi-container applications",
		setup: func(fs *flags) action {
			(&composeFlags{}).register(fs) // hull-compose reads them
			return func(ctx context.Context, e *env, args []string) error {
				path, err := findComposePlugin()
				if err != nil {
					return err
				}
				argv := append([]string{composePlugin}, os.Args[1:]...)
				return fmt.Errorf("hull compose: run %s: %w", path, syscall.Exec(path, argv, os.Environ()))
			}
		},
	}
}

// findComposePlugin returns the path of hull-compose: next to this
// binary, else on $PATH.
func findComposePlugin() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), composePlugin)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(composePlugin)
	if errors.Is(err, exec.ErrNotFound) {
		return "", fmt.Errorf("hull compose needs the %s binary next to hull or on $PATH: go build -tags hullcompose -o %s ./cmd/hull", composePlugin, composePlugin)
	}
	return p, err
}
