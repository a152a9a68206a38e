package hull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hullbox/hull/internal/dockerfile"
	"github.com/hullbox/hull/internal/manifest"
)

// BuildError is a RUN step of a build that failed: its command exited
// with a code other than 0, or could not start (ExitCode 126, 127).
type BuildError struct {
	// File and Line locate the step in the Dockerfile.
	File string
	Line int
	// Instruction is the step as written.
	Instruction string
	// ExitCode is the command's, Docker style (ExitStatus.ExitCode).
	ExitCode int
	// Output holds the last lines the command printed (up to 20).
	Output []string
}

// Error implements error.
func (e *BuildError) Error() string {
	msg := fmt.Sprintf("%s:%d: %s: exit code %d", e.File, e.Line, e.Instruction, e.ExitCode)
	if len(e.Output) > 0 {
		msg += "; last output:\n  " + strings.Join(e.Output, "\n  ")
	}
	return msg
}

// Build builds an image from a Dockerfile, as `docker build` does, with
// contextDir as the build context, and tags it (WithTags). Every RUN step
// is a hull container (network none by default, WithBuildNetwork) whose
// changes become a layer, written by the same code as Commit's; COPY and
// ADD write their layer straight from the context, without a container.
//
// Steps are cached in the store: a step whose parent, instruction (after
// variable expansion), build arguments and copied content (hashed, not
// timed) are unchanged reuses its earlier layer and starts nothing; a
// changed step runs again with those after it. Stages the target does not
// need are skipped; independent stages build concurrently.
//
// A Dockerfile that cannot be built returns an error wrapping
// ErrInvalidDockerfile that names the file and line; a failing RUN step
// returns a *BuildError with its exit code and last output lines. A failed
// or cancelled build moves no tag and leaves no container behind. See
// docs/build.md for what differs from Docker.
func (rt *Runtime) Build(ctx context.Context, contextDir string, opts ...BuildOption) (*Image, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	cfg := buildConfig{network: NetworkModeNone}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
	}
	if cfg.platform != "" {
		want, _ := manifest.ParsePlatform(cfg.platform)
		if err := checkHostPlatform(want); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
	}
	bctx, err := dockerfile.OpenContext(contextDir)
	if err != nil {
		return nil, fmt.Errorf("build: context: %w", err)
	}
	defer bctx.Close()
	name, data, err := readDockerfile(bctx, &cfg)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	f, err := dockerfile.Parse(name, data)
	if err != nil {
		return nil, fmt.Errorf("build: %w: %w", ErrInvalidDockerfile, err)
	}
	// Content a build adds is safe from a concurrent Prune until the build
	// references it from an image.
	gcLock, err := rt.store.Writing(ctx)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	defer gcLock.Unlock()
	b := &builder{rt: rt, cfg: &cfg, file: f, bctx: bctx}
	img, err := b.build(ctx)
	var de *dockerfile.Error
	if errors.As(err, &de) {
		return nil, fmt.Errorf("build: %w: %w", ErrInvalidDockerfile, err)
	} else if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if len(cfg.tags) > 0 {
		if err := rt.tagAll(ctx, img, cfg.tags); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		if img, err = rt.imageByDigest(img.rec.Manifest); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
	}
	for _, t := range cfg.tags {
		rt.events.emit(EventImage, "tag", img.ID(), t, nil)
	}
	return img, nil
}

func readDockerfile(bctx *dockerfile.Context, cfg *buildConfig) (name string, data []byte, err error) {
	switch {
	case cfg.content != nil:
		name = "Dockerfile"
		data, err = io.ReadAll(io.LimitReader(cfg.content, dockerfile.MaxSize+1))
	case cfg.dockerfile != "":
		name = filepath.Base(cfg.dockerfile)
		var f *os.File
		if f, err = os.Open(cfg.dockerfile); err == nil {
			data, err = io.ReadAll(io.LimitReader(f, dockerfile.MaxSize+1))
			f.Close()
		}
	default:
		name = "Dockerfile"
		data, err = bctx.ReadFile("Dockerfile")
	}
	if errors.Is(err, os.ErrNotExist) {
		err = fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return name, data, err
}

// lineWriter splits what a RUN step prints into lines: each is a
// BuildStepOutput event, and the last ones are kept for a BuildError.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	last []string
	emit func(string)
}

const keepLines = 20

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a very long line: cut it
		w.line(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *lineWriter) line(s string) {
	s = strings.TrimSuffix(s, "\r")
	if len(w.last) == keepLines {
		w.last = w.last[1:]
	}
	w.last = append(w.last, s)
	if w.emit != nil {
		w.emit(s)
	}
}

// flush ends a last line without a newline and returns the last lines.
func (w *lineWriter) flush() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = nil
	}
	return append([]string(nil), w.last...)
}

// runStep runs argv in a container of st's image with st's config, and
// makes an image of st's plus the container's changes.
func (b *builder) runStep(ctx context.Context, st *stageState, s *step, argv, env []string, mounts []runMount) (_ *Image, retErr error) {
	if st.img == nil {
		return nil, b.file.Errorf(s.loc, "RUN in a stage FROM scratch: no command to run")
	}
	out := &lineWriter{emit: func(line string) {
		b.event(BuildEvent{Kind: BuildStepOutput, Stage: st.name, Step: s.n, Instruction: s.text, Line: line})
	}}
	c := st.conf.Config
	opts := []RunOption{
		WithEntrypoint(), WithCmd(argv...), WithEnv(env...), WithNetworkMode(b.cfg.network),
		WithStdout(out), WithStderr(out),
		WithName(buildStepPrefix + newID()[:12]), WithLabels(map[string]string{buildStepLabel: st.name}),
	}
	if c.WorkingDir != "" {
		opts = append(opts, WithWorkdir(c.WorkingDir))
	}
	if c.User != "" {
		opts = append(opts, WithUser(c.User))
	}
	for _, m := range mounts {
		opt, unlock, err := b.mountOption(ctx, m)
		if err != nil {
			return nil, b.at(s.loc, err)
		}
		if unlock != nil {
			defer unlock()
		}
		opts = append(opts, opt)
	}
	return b.runContainer(ctx, st, s, opts, out)
}

func stepLine(s *step) int {
	if len(s.loc) == 0 {
		return 0
	}
	return s.loc[0].Start.Line
}

// A RUN step's container is named buildStepPrefix+random and labelled
// buildStepLabel. The build removes it when the step ends; if the
// building process dies first, the next Open removes it, as it removes
// the WithAutoRemove containers of dead owners (removeAutoRemoved). Both
// marks are needed: an image's labels become its containers'.
const (
	buildStepPrefix = "hull_build_"
	buildStepLabel  = "io.hull.build.step"
)

func (st *containerState) buildStep() bool {
	_, ok := st.Labels[buildStepLabel]
	return ok && strings.HasPrefix(st.Name, buildStepPrefix)
}
