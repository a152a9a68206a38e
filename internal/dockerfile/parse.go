// Package dockerfile turns a Dockerfile into build stages with BuildKit's
// parser and instruction decoder, expands variables with BuildKit's shell
// lexer, and reads a build context (.dockerignore, COPY sources, layer
// tars and their content hashes) for hull's builder.
package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// MaxSize bounds a Dockerfile: it is read whole before parsing.
const MaxSize = 4 << 20

// Error is a Dockerfile that cannot be built, with the file and line at
// fault (Line 0: the whole file).
type Error struct {
	File string
	Line int
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// File is a parsed Dockerfile.
type File struct {
	Name     string
	Stages   []instructions.Stage
	MetaArgs []instructions.ArgCommand
	escape   rune
	// Notes are what the parser ignored that a user may want to know
	// (a `# syntax=` directive, an empty continuation line).
	Notes []string
}

// Lex returns a lexer that expands variables with the file's escape
// character. A lexer is not safe for concurrent use: stages build
// concurrently, so each expansion takes a new one (they are small).
func (f *File) Lex() *shell.Lex { return shell.NewLex(f.escape) }

// Errorf returns an *Error at the line of loc.
func (f *File) Errorf(loc []parser.Range, format string, args ...any) error {
	return &Error{File: f.Name, Line: line(loc), Err: fmt.Errorf(format, args...)}
}

// Wrap returns err as an *Error at the line of loc.
func (f *File) Wrap(loc []parser.Range, err error) error {
	return &Error{File: f.Name, Line: line(loc), Err: err}
}

func line(loc []parser.Range) int {
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}

// Parse parses the Dockerfile data, named name in errors.
func Parse(name string, data []byte) (*File, error) {
	if len(data) > MaxSize {
		return nil, &Error{File: name, Err: fmt.Errorf("larger than %d bytes", MaxSize)}
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, &Error{File: name, Line: errLine(err), Err: plain(err)}
	}
	f := &File{Name: name, escape: res.EscapeToken}
	for _, w := range res.Warnings {
		f.Notes = append(f.Notes, w.Short)
	}
	if syntax, ok := directive(data, "syntax"); ok {
		f.Notes = append(f.Notes, fmt.Sprintf("# syntax=%s ignored: hull has its own builder", syntax))
	}
	for _, n := range res.AST.Children {
		cmd, err := instructions.ParseInstruction(n)
		if err != nil {
			return nil, &Error{File: name, Line: n.StartLine, Err: plain(err)}
		}
		if a, ok := cmd.(*instructions.ArgCommand); ok && len(f.Stages) == 0 {
			f.MetaArgs = append(f.MetaArgs, *a)
			continue
		}
		switch c := cmd.(type) {
		case *instructions.Stage:
			f.Stages = append(f.Stages, *c)
		case instructions.Command:
			if len(f.Stages) == 0 {
				return nil, &Error{File: name, Line: n.StartLine, Err: fmt.Errorf("%s before the first FROM", strings.ToUpper(c.Name()))}
			}
			s := &f.Stages[len(f.Stages)-1]
			s.Commands = append(s.Commands, c)
		default:
			return nil, &Error{File: name, Line: n.StartLine, Err: fmt.Errorf("unexpected instruction %T", cmd)}
		}
	}
	if len(f.Stages) == 0 {
		return nil, &Error{File: name, Err: errors.New("no FROM instruction")}
	}
	return f, nil
}

// errLine is the first line a parser error names, 0 if none.
func errLine(err error) int {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 {
		return line(le.Locations[0])
	}
	return 0
}

// plain drops BuildKit's stack-carrying wrappers: their message is kept,
// their types stay out of hull's errors.
func plain(err error) error {
	var u *instructions.UnknownInstructionError
	if errors.As(err, &u) {
		return fmt.Errorf("unknown instruction: %s", u.Instruction)
	}
	return errors.New(err.Error())
}

// directive returns the value of the parser directive `# name=value` at
// the top of data.
func directive(data []byte, name string) (string, bool) {
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "#") {
			return "", false
		}
		k, v, ok := strings.Cut(strings.TrimSpace(l[1:]), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// Script is a RUN heredoc that starts with "#!": BuildKit runs it as a
// file, /dev/pipes/<Name>, rather than giving it to the shell.
type Script struct {
	Name, Data string
}

// Heredoc returns the command line of a RUN whose arguments are heredocs
// (`RUN <<EOF`), as BuildKit runs it: a lone heredoc's content is given to
// the shell as its script, or run as a file if it starts with "#!" (then
// script is set); a command with heredocs gets them appended, for the
// shell to read as its own heredocs. shell is the stage's SHELL.
func Heredoc(c *instructions.RunCommand, shellCmd []string) (argv []string, script *Script, err error) {
	args := c.CmdLine
	if len(c.Files) == 0 {
		return args, nil, nil
	}
	if len(args) != 1 || !c.PrependShell {
		return nil, nil, fmt.Errorf("heredoc RUN needs the shell form")
	}
	if h := parser.MustParseHeredoc(args[0]); h != nil {
		content := c.Files[0].Data
		if c.Files[0].Chomp {
			content = parser.ChompHeredocContent(content)
		}
		if strings.HasPrefix(content, "#!") {
			name := path.Base(path.Clean("/" + c.Files[0].Name))
			if name == "/" || name == "." {
				name = "EOF"
			}
			return []string{"/dev/pipes/" + name}, &Script{Name: name, Data: content}, nil
		}
		return append(append([]string(nil), shellCmd...), content), nil, nil
	}
	full := args[0]
	for _, file := range c.Files {
		full += "\n" + file.Data + file.Name
	}
	return append(append([]string(nil), shellCmd...), full), nil, nil
}

// ParseTrigger parses an ONBUILD trigger of a base image: one instruction,
// not FROM, ONBUILD or MAINTAINER (Docker refuses them as triggers).
func ParseTrigger(expr string) (instructions.Command, error) {
	res, err := parser.Parse(strings.NewReader(expr))
	if err != nil {
		return nil, plain(err)
	}
	if len(res.AST.Children) != 1 {
		return nil, fmt.Errorf("%q: want one instruction", expr)
	}
	cmd, err := instructions.ParseInstruction(res.AST.Children[0])
	if err != nil {
		return nil, plain(err)
	}
	c, ok := cmd.(instructions.Command)
	if !ok {
		return nil, fmt.Errorf("%q: FROM is not allowed as an ONBUILD trigger", expr)
	}
	switch strings.ToLower(c.Name()) {
	case "onbuild", "maintainer":
		return nil, fmt.Errorf("%q: %s is not allowed as an ONBUILD trigger", expr, strings.ToUpper(c.Name()))
	}
	return c, nil
}
