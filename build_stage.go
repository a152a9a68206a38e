package hull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hullbox/hull/internal/dockerfile"
	"github.com/hullbox/hull/internal/manifest"
	"github.com/hullbox/hull/internal/store"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// builder is one Build: the parsed Dockerfile, its stages and the events.
type builder struct {
	rt     *Runtime
	cfg    *buildConfig
	file   *dockerfile.File
	bctx   *dockerfile.Context
	stages []*stageRun
	steps  int
	meta   *buildVars // the ARGs before the first FROM
	target int        // index of the stage built

	evMu     sync.Mutex
	consumed sync.Map // build arg names an ARG declared
}

// stageRun is a stage of the build and, once done, its result.
type stageRun struct {
	idx    int
	name   string
	st     *instructions.Stage
	needed bool
	first  int // its FROM's step number
	done   chan struct{}
	img    *Image
	conf   dockerspec.DockerOCIImage
	err    error
}

// step is one instruction being built.
type step struct {
	n    int
	text string
	loc  []parser.Range
}

// stageState is what a stage has built so far.
type stageState struct {
	name   string
	img    *Image // the stored image holding the layers so far; nil: none (scratch)
	conf   dockerspec.DockerOCIImage
	key    string // cache key of the state
	dirty  bool   // conf has changed since img was written
	vars   *buildVars
	cmdSet bool
	// pendingHistory is the history entry of the layer step under way.
	pendingHistory string
}

func (b *builder) event(e BuildEvent) {
	if b.cfg.progress == nil {
		return
	}
	e.Steps = b.steps
	b.evMu.Lock()
	defer b.evMu.Unlock()
	b.cfg.progress(e)
}

func chainKey(prev string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(prev))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// build builds the target stage and what it needs, and returns its image.
func (b *builder) build(ctx context.Context) (*Image, error) {
	for _, n := range b.file.Notes {
		b.event(BuildEvent{Kind: BuildNote, Line: n})
	}
	var err error
	if b.meta, err = b.metaVars(); err != nil {
		return nil, err
	}
	target := len(b.file.Stages) - 1
	for i := range b.file.Stages {
		s := &b.file.Stages[i]
		name := strings.ToLower(s.Name)
		if name == "" {
			name = strconv.Itoa(i)
		}
		b.stages = append(b.stages, &stageRun{idx: i, name: name, st: s, done: make(chan struct{})})
		if b.cfg.target != "" && strings.EqualFold(s.Name, b.cfg.target) {
			target = i
		}
	}
	if b.cfg.target != "" && !strings.EqualFold(b.file.Stages[target].Name, b.cfg.target) {
		return nil, fmt.Errorf("%w: %s: target stage %q not found", ErrInvalidDockerfile, b.file.Name, b.cfg.target)
	}
	b.target = target
	if err := b.mark(target, 0); err != nil {
		return nil, err
	}
	for _, s := range b.stages {
		if s.needed {
			s.first = b.steps + 1
			b.steps += 1 + len(s.st.Commands)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range b.stages {
		if !s.needed {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(s.done)
			s.img, s.conf, s.err = b.buildStage(ctx, s)
			if s.err != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	// The first error in Dockerfile order that is not a consequence of
	// another stage's (a wait or a step cut short by the cancel).
	var first error
	for _, s := range b.stages {
		if s.err != nil && !errors.Is(s.err, context.Canceled) {
			return nil, s.err
		}
		if first == nil {
			first = s.err
		}
	}
	if first != nil {
		return nil, first
	}
	b.noteUnused()
	return b.stages[target].img, nil
}

// noteUnused notes the build arguments no ARG of the built stages
// declared, as Docker warns of them.
func (b *builder) noteUnused() {
	var unused []string
	for k := range b.cfg.args {
		if _, ok := b.consumed.Load(k); !ok && !slices.Contains(proxyArgs, k) {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		slices.Sort(unused)
		b.event(BuildEvent{Kind: BuildNote, Line: fmt.Sprintf("one or more build args %v were not consumed", unused)})
	}
}

// mark marks stage i and the stages it uses as needed.
func (b *builder) mark(i, depth int) error {
	s := b.stages[i]
	if s.needed {
		return nil
	}
	if depth > len(b.stages) {
		return b.file.Errorf(s.st.Location, "stages depend on each other in a circle")
	}
	s.needed = true
	deps := []string{s.st.BaseName}
	for _, c := range s.st.Commands {
		if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" {
			deps = append(deps, cp.From)
		}
	}
	for _, d := range deps {
		// Names with variables: expanded with the ARGs before FROM (the
		// stage's own are not known yet); a stage missed here is an
		// error when it is used (waitStage), not a hang.
		if x, _, err := b.meta.expand(b.file.Lex(), d); err == nil {
			d = x
		}
		if j := b.stageIndex(d, i); j >= 0 {
			if err := b.mark(j, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// stageIndex finds the stage before stage `before` that name names (its
// name or index), -1 if none. Names are expanded by the caller where
// Docker expands them; here the raw name is tried too.
func (b *builder) stageIndex(name string, before int) int {
	for j := 0; j < before && j < len(b.stages); j++ {
		if strings.EqualFold(b.file.Stages[j].Name, name) || strconv.Itoa(j) == name {
			return j
		}
	}
	return -1
}

// waitStage waits for stage s to be built, and returns its error.
func (b *builder) waitStage(ctx context.Context, s *stageRun) error {
	if !s.needed {
		return fmt.Errorf("%w: stage %s is used through a variable the build could not expand before it started", ErrUnsupported, s.name)
	}
	select {
	case <-s.done:
		return s.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// buildStage runs one stage's FROM and instructions.
func (b *builder) buildStage(ctx context.Context, s *stageRun) (*Image, dockerspec.DockerOCIImage, error) {
	st := &stageState{name: s.name, vars: b.meta.stageScope()}
	from := step{n: s.first, text: s.st.SourceCode, loc: s.st.Location}
	start := time.Now()
	b.event(BuildEvent{Kind: BuildStepStarted, Stage: s.name, Step: from.n, Instruction: from.text})
	triggers, err := b.from(ctx, s, st, &from)
	if err != nil {
		return nil, dockerspec.DockerOCIImage{}, err
	}
	b.event(BuildEvent{Kind: BuildStepDone, Stage: s.name, Step: from.n, Instruction: from.text, Duration: time.Since(start), ImageID: imageID(st.img)})
	for _, t := range triggers {
		if err := b.dispatch(ctx, st, &from, t); err != nil {
			return nil, dockerspec.DockerOCIImage{}, err
		}
	}
	for i, c := range s.st.Commands {
		sp := step{n: s.first + 1 + i, text: oneLine(c), loc: c.Location()}
		if err := ctx.Err(); err != nil {
			return nil, dockerspec.DockerOCIImage{}, err
		}
		if err := b.dispatch(ctx, st, &sp, c); err != nil {
			return nil, dockerspec.DockerOCIImage{}, err
		}
	}
	if len(b.cfg.labels) > 0 && s.idx == b.target {
		labels, _ := json.Marshal(b.cfg.labels)
		st.key = chainKey(st.key, "--label", string(labels))
		st.conf.Config.Labels = mergeLabels(st.conf.Config.Labels, b.cfg.labels)
		st.dirty = true
	}
	img, err := b.finish(ctx, st)
	return img, st.conf, err
}

// at prefixes err with the Dockerfile's name and the line of loc: an
// error of the build's machinery, not of the Dockerfile.
func (b *builder) at(loc []parser.Range, err error) error {
	if len(loc) == 0 {
		return fmt.Errorf("%s: %w", b.file.Name, err)
	}
	return fmt.Errorf("%s:%d: %w", b.file.Name, loc[0].Start.Line, err)
}

func mergeLabels(base, add map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(add))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range add {
		out[k] = v
	}
	return out
}

func imageID(img *Image) string {
	if img == nil {
		return ""
	}
	return img.ID()
}

func oneLine(c instructions.Command) string {
	if s, ok := c.(fmt.Stringer); ok {
		return strings.Join(strings.Fields(s.String()), " ")
	}
	return c.Name()
}

// from sets st from the stage's FROM: another stage's result, scratch or
// an image (pulled when missing, or always WithBuildPull). It returns the
// base image's ONBUILD triggers, parsed.
func (b *builder) from(ctx context.Context, s *stageRun, st *stageState, sp *step) ([]instructions.Command, error) {
	base, _, err := b.meta.expand(b.file.Lex(), s.st.BaseName)
	if err != nil {
		return nil, b.file.Wrap(sp.loc, err)
	}
	if s.st.Platform != "" {
		p, _, err := b.meta.expand(b.file.Lex(), s.st.Platform)
		if err == nil && p != "$BUILDPLATFORM" && p != "$TARGETPLATFORM" {
			var want ocispec.Platform
			if want, err = manifest.ParsePlatform(p); err == nil {
				err = checkHostPlatform(want)
			}
		}
		if err != nil {
			return nil, b.file.Wrap(sp.loc, err)
		}
	}
	var img *Image
	switch j := b.stageIndex(base, s.idx); {
	case j >= 0:
		dep := b.stages[j]
		if err := b.waitStage(ctx, dep); err != nil {
			return nil, b.at(sp.loc, err)
		}
		// A stage's result is a stored image whose config is the stage's.
		st.img, st.conf, st.key = dep.img, cloneConf(dep.conf), chainKey("image", dep.img.ID())
		return nil, nil
	case strings.EqualFold(base, "scratch"):
		st.conf = dockerspec.DockerOCIImage{Image: ocispec.Image{Platform: manifest.HostPlatform(), RootFS: ocispec.RootFS{Type: "layers"}}}
		st.conf.Config.Env = []string{"PATH=" + defaultPath}
		st.key = chainKey("scratch")
		st.dirty = true
		return nil, nil
	default:
		if img, err = b.baseImage(ctx, base); err != nil {
			return nil, b.at(sp.loc, err)
		}
	}
	conf, err := b.rt.dockerConfig(img)
	if err != nil {
		return nil, err
	}
	st.img, st.conf, st.key = img, conf, chainKey("image", img.ID())
	var triggers []instructions.Command
	for _, expr := range conf.Config.OnBuild {
		t, err := dockerfile.ParseTrigger(expr)
		if err != nil {
			return nil, b.file.Wrap(sp.loc, fmt.Errorf("ONBUILD trigger of %s: %w", base, err))
		}
		triggers = append(triggers, t)
	}
	if len(st.conf.Config.OnBuild) > 0 { // triggers run once: the new image has none
		st.conf.Config.OnBuild = nil
		st.dirty = true
	}
	return triggers, nil
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func cloneConf(c dockerspec.DockerOCIImage) dockerspec.DockerOCIImage {
	data, _ := json.Marshal(c)
	var out dockerspec.DockerOCIImage
	_ = json.Unmarshal(data, &out)
	return out
}

// baseImage finds ref locally, or pulls it when missing or WithBuildPull.
func (b *builder) baseImage(ctx context.Context, ref string) (*Image, error) {
	if !b.cfg.pull {
		img, err := b.rt.Image(ctx, ref)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return img, err
		}
	}
	return b.rt.Pull(ctx, ref)
}

// dockerConfig reads img's config with Docker's extensions (Healthcheck,
// OnBuild, Shell), which ocispec.Image leaves out.
func (rt *Runtime) dockerConfig(img *Image) (dockerspec.DockerOCIImage, error) {
	var conf dockerspec.DockerOCIImage
	data, err := rt.store.ReadBlob(img.rec.Config, maxConfigSize)
	if err != nil {
		return conf, fmt.Errorf("image %s: config: %w", img.ID(), err)
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		return conf, fmt.Errorf("image %s: config: %w", img.ID(), err)
	}
	return conf, nil
}

// finish returns the stage's image: the last one written if its config is
// the stage's, else a new image of the same layers with the stage's
// config (found in the cache if it was written before).
func (b *builder) finish(ctx context.Context, st *stageState) (*Image, error) {
	if !st.dirty && st.img != nil {
		return st.img, nil
	}
	key := chainKey(st.key, "final")
	if img := b.cached(key); img != nil {
		return img, nil
	}
	img, err := b.writeImage(ctx, st, nil)
	if err != nil {
		return nil, err
	}
	b.remember(key, img)
	return img, nil
}

// tagAll points each tag at img, in one update of the index.
func (rt *Runtime) tagAll(ctx context.Context, img *Image, tags []string) error {
	return rt.store.UpdateIndex(ctx, func(ix *store.Index) error {
		if ix.Images[img.rec.Manifest] == nil {
			return fmt.Errorf("image %s: %w", img.ID(), ErrNotFound)
		}
		now := time.Now().UTC()
		for _, t := range tags {
			ix.SetTag(t, img.rec.Manifest, now)
		}
		return nil
	})
}

func checkHostPlatform(want ocispec.Platform) error {
	host := manifest.HostPlatform()
	if want.OS != host.OS || want.Architecture != host.Architecture || want.Variant != "" && want.Variant != host.Variant {
		return fmt.Errorf("%w: platform %s: hull builds for the host's, %s/%s", ErrUnsupported, platformString(want), host.OS, host.Architecture)
	}
	return nil
}

func platformString(p ocispec.Platform) string {
	return strings.Join(slices.DeleteFunc([]string{p.OS, p.Architecture, p.Variant}, func(s string) bool { return s == "" }), "/")
}
