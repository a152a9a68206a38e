package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"

	"github.com/hullbox/hull"
)

// A command is one entry of a command table. setup registers the command's
// flags on fs and returns the action, which closes over the flag values;
// help calls setup without running the action, so usage text and parsing
// come from the same place.
type command struct {
	name    string
	aliases []string // other names, e.g. "list" for "ls"
	args    string   // positional arguments for the usage line, e.g. "SOURCE TARGET"
	short   string   // one-line description
	minArgs int
	maxArgs int // -1: no limit
	setup   func(fs *flags) action
	sub     []*command // a command group such as "image": dispatch goes on
	// quick: the command reads and prints, in milliseconds, and a signal
	// may end it as the default action does (nothing to stop or clean
	// up), so it runs without env.onCommand's handler: installing one
	// starts a thread, a few percent of `hull ps`.
	quick bool
}

type action func(ctx context.Context, e *env, args []string) error

// commands is the top-level command table. Adding a command is adding a row
// here (and its setup function in the file of its group).
func commands() []*command {
	return []*command{
		pullCmd(), pushCmd(), imagesCmd(), tagCmd(), rmiCmd(), inspectCmd(), importCmd(), pruneCmd(),
		buildCmd(), saveCmd(), loadCmd(), historyCmd(), tagsCmd(), loginCmd(), logoutCmd(),
		diffCmd(), exportCmd(), cpCmd(), commitCmd(),
		runCmd(), createCmd(), startCmd(), psCmd(), stopCmd(), killCmd(), restartCmd(), rmCmd(),
		logsCmd(), execCmd(), waitCmd(), statsCmd(), topCmd(), pauseCmd(), unpauseCmd(),
		attachCmd(), eventsCmd(), portCmd(), composeCmd(),
		imageGroup(), networkGroup(),
		volumeGroup(), systemGroup(),
		versionCmd(), helpCmd(),
	}
}

// lookup finds name (or an alias) in table.
func lookup(table []*command, name string) *command {
	for _, c := range table {
		if c.name == name {
			return c
		}
		for _, a := range c.aliases {
			if a == name {
				return c
			}
		}
	}
	return nil
}

// usageError is a mistake in how hull was called: exit status 125.
type usageError struct {
	err  error
	path string // "hull image rm": where to look for help
}

func (u *usageError) Error() string { return u.err.Error() }
func (u *usageError) Unwrap() error { return u.err }

func usageErrorf(path, format string, a ...any) error {
	return &usageError{err: fmt.Errorf(format, a...), path: path}
}

// exitError ends hull with a status; the failure was already reported.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// dispatch runs the command args[0] of table; path names the table ("hull",
// "hull image") in messages.
func dispatch(ctx context.Context, e *env, path string, table []*command, args []string) error {
	if len(args) == 0 {
		printTable(e.stdout, path, table)
		return nil
	}
	c := lookup(table, args[0])
	if c == nil {
		return usageErrorf(path, "unknown command %q for %q", args[0], path)
	}
	path += " " + c.name
	if c.sub != nil {
		if len(args) > 1 && isHelpFlag(args[1]) {
			printTable(e.stdout, path, c.sub)
			return nil
		}
		return dispatch(ctx, e, path, c.sub, args[1:])
	}
	fs := newFlags(path)
	run := c.setup(fs)
	pos, err := fs.parse(args[1:])
	if errors.Is(err, flag.ErrHelp) {
		printUsage(e.stdout, path, c, fs)
		return nil
	}
	if err != nil {
		return &usageError{err: err, path: path}
	}
	if err := checkArity(path, c, pos); err != nil {
		return err
	}
	if e.onCommand != nil && !c.quick {
		e.onCommand()
	}
	return run(ctx, e, pos)
}

func isHelpFlag(s string) bool { return s == "-h" || s == "--help" || s == "-help" }

func checkArity(path string, c *command, pos []string) error {
	n := len(pos)
	switch {
	case c.minArgs == c.maxArgs && n != c.minArgs:
		if c.minArgs == 0 {
			return usageErrorf(path, "%q accepts no arguments", path)
		}
		return usageErrorf(path, "%q requires exactly %d argument%s", path, c.minArgs, plural(c.minArgs))
	case n < c.minArgs:
		return usageErrorf(path, "%q requires at least %d argument%s", path, c.minArgs, plural(c.minArgs))
	case c.maxArgs >= 0 && n > c.maxArgs:
		return usageErrorf(path, "%q requires at most %d argument%s", path, c.maxArgs, plural(c.maxArgs))
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// flags is a flag.FlagSet that knows which names are aliases of one
// another (-q and --quiet), for usage text and for "-qa" style bundles.
type flags struct {
	*flag.FlagSet
	list []flagDoc
	// stopAtArg ends the flags at the first positional argument, for
	// commands whose arguments after it are a command line (run, exec).
	stopAtArg bool
}

type flagDoc struct {
	short, long, arg, usage string
}

func newFlags(name string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flags{FlagSet: fs}
}

// names registers the doc line and returns the non-empty names.
func (f *flags) names(short, long, arg, usage string) []string {
	f.list = append(f.list, flagDoc{short, long, arg, usage})
	var out []string
	for _, n := range []string{short, long} {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Bool defines a boolean flag with a one-letter name, a long name, or both.
func (f *flags) Bool(p *bool, short, long, usage string) {
	for _, n := range f.names(short, long, "", usage) {
		f.BoolVar(p, n, false, usage)
	}
}

// String defines a string flag; arg names its value in usage text.
func (f *flags) String(p *string, short, long, arg, usage string) {
	for _, n := range f.names(short, long, arg, usage) {
		f.StringVar(p, n, *p, usage)
	}
}

// Strings defines a flag that may be given several times.
func (f *flags) Strings(p *[]string, short, long, arg, usage string) {
	for _, n := range f.names(short, long, arg, usage) {
		f.Var((*stringList)(p), n, usage)
	}
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// parse parses args allowing flags after positional arguments, as docker
// does ("hull rmi a b -f"); "--" ends the flags. It returns the positional
// arguments.
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(f.expandBundles(args)); err != nil {
			return nil, err
		}
		rest := f.Args()
		// flag stops at "--" (consuming it) or at the first non-flag.
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		if f.stopAtArg {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// expandBundles turns "-qa" into "-q" "-a" when every letter is a boolean
// flag, as docker's flag parser accepts. It stops at the first positional
// argument: parse calls it again for what follows.
func (f *flags) expandBundles(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		if !strings.HasPrefix(a, "--") && len(name) > 1 && !strings.Contains(name, "=") &&
			f.Lookup(name) == nil && f.allBool(name) {
			for _, r := range name {
				out = append(out, "-"+string(r))
			}
			continue
		}
		out = append(out, a)
		// A flag that takes a value as the next argument: keep it as is.
		if fl := f.Lookup(name); fl != nil && !isBool(fl) && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	return out
}

func isBool(fl *flag.Flag) bool {
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func (f *flags) allBool(letters string) bool {
	for _, r := range letters {
		if fl := f.Lookup(string(r)); fl == nil || !isBool(fl) {
			return false
		}
	}
	return true
}

// printUsage prints a command's help.
func printUsage(w io.Writer, path string, c *command, fs *flags) {
	fmt.Fprintf(w, "Usage:  %s", path)
	if len(fs.list) > 0 {
		fmt.Fprint(w, " [OPTIONS]")
	}
	if c.args != "" {
		fmt.Fprintf(w, " %s", c.args)
	}
	fmt.Fprintf(w, "\n\n%s\n", c.short)
	if len(c.aliases) > 0 {
		parent := path[:strings.LastIndex(path, " ")]
		fmt.Fprintf(w, "\nAliases:\n  %s %s\n", parent, strings.Join(c.aliases, ", "))
	}
	if len(fs.list) > 0 {
		fmt.Fprint(w, "\nOptions:\n")
		printFlags(w, fs.list)
	}
}

func printFlags(w io.Writer, list []flagDoc) {
	lines := make([][2]string, len(list))
	width := 0
	for i, d := range list {
		var s string
		switch {
		case d.short != "" && d.long != "":
			s = "-" + d.short + ", --" + d.long
		case d.short != "":
			s = "-" + d.short
		default:
			s = "    --" + d.long
		}
		if d.arg != "" {
			s += " " + d.arg
		}
		lines[i] = [2]string{s, d.usage}
		width = max(width, len(s))
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  %-*s   %s\n", width, l[0], l[1])
	}
}

// printTable prints the commands of a table, sorted by name.
func printTable(w io.Writer, path string, table []*command) {
	fmt.Fprintf(w, "Usage:  %s COMMAND\n", path)
	if path == "hull" {
		fmt.Fprint(w, "\nA daemonless container tool over the hull library\n\nGlobal options:\n")
		printFlags(w, globalFlags(&globals{}).list)
	}
	fmt.Fprint(w, "\nCommands:\n")
	sorted := append([]*command(nil), table...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	width := 0
	for _, c := range sorted {
		width = max(width, len(c.name))
	}
	for _, c := range sorted {
		fmt.Fprintf(w, "  %-*s   %s\n", width, c.name, c.short)
	}
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for more information on a command.\n", path)
}

func versionCmd() *command {
	return &command{
		name:  "version",
		short: "Show the hull version information",
		setup: func(*flags) action {
			return func(_ context.Context, e *env, _ []string) error {
				fmt.Fprintf(e.stdout, "Version:     %s\nGo version:  %s\nOS/Arch:     %s/%s\nRoot:        %s\n",
					hull.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, e.root)
				return nil
			}
		},
	}
}

func helpCmd() *command {
	return &command{
		name:    "help",
		args:    "[COMMAND [SUBCOMMAND]]",
		short:   "Show help on hull or on a command",
		maxArgs: -1,
		setup: func(*flags) action {
			return func(_ context.Context, e *env, args []string) error {
				return help(e, args)
			}
		},
	}
}

// help prints what "hull COMMAND... --help" would.
func help(e *env, args []string) error {
	path, table := "hull", commands()
	for _, name := range args {
		c := lookup(table, name)
		if c == nil {
			return usageErrorf(path, "unknown command %q for %q", name, path)
		}
		path += " " + c.name
		if c.sub == nil {
			fs := newFlags(path)
			c.setup(fs)
			printUsage(e.stdout, path, c, fs)
			return nil
		}
		table = c.sub
	}
	printTable(e.stdout, path, table)
	return nil
}
