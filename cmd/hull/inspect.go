package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/template"

	"github.com/hullbox/hull"
)

// inspectNamedCmd builds the inspect command of network and volume (noun,
// plural nouns): it prints what inspect returns for each name it finds (a
// JSON array, or the --format template applied to each) and then "Error:
// No such NOUN: NAME" for each one it does not, as docker does.
func inspectNamedCmd[T any](noun, nouns, formatUsage string, inspect func(context.Context, *hull.Runtime, string) (T, error)) *command {
	return &command{
		name:    "inspect",
		args:    strings.ToUpper(noun) + " [" + strings.ToUpper(noun) + "...]",
		short:   "Display detailed information on one or more " + nouns,
		minArgs: 1, maxArgs: -1,
		setup: func(fs *flags) action {
			var format string
			fs.String(&format, "f", "format", "string", formatUsage)
			path := fs.Name()
			return func(ctx context.Context, e *env, names []string) error {
				var tmpl *template.Template
				if format != "" {
					var err error
					if tmpl, err = parseTemplate(path, format); err != nil {
						return err
					}
				}
				rt, err := e.runtime(ctx)
				if err != nil {
					return err
				}
				found := []T{}
				var errs []string
				for _, name := range names {
					obj, err := inspect(ctx, rt, name)
					switch {
					case errors.Is(err, hull.ErrNotFound):
						errs = append(errs, "Error: No such "+noun+": "+name)
					case err != nil:
						errs = append(errs, "hull: "+err.Error())
					default:
						found = append(found, obj)
					}
				}
				if err := printInspect(e, tmpl, found); err != nil {
					return err
				}
				return reportErrors(e, errs)
			}
		},
	}
}

// reportErrors prints each message (one per object not found or not
// removed, after the output for the others, as docker does) and makes hull
// exit 1 if there are any.
func reportErrors(e *env, errs []string) error {
	for _, msg := range errs {
		fmt.Fprintln(e.stderr, msg)
	}
	if len(errs) > 0 {
		return &exitError{code: exitFailure}
	}
	return nil
}
