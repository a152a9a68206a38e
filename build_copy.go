package hull

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/hullbox/hull/internal/dockerfile"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// copyArgs is a COPY or ADD, expanded.
type copyArgs struct {
	instructions.SourcesAndDest
	from, chown, chmod string
	add, parents       bool
	excludes           []string
	checksum           string
}

// copySource is one thing a COPY copies: a context path, a path in
// another stage's or image's layers (img set), or inline content.
type copySource struct {
	rel     string // context or image path, clean and relative
	img     *Image
	dir     bool
	content *instructions.SourceContent
}

// copyPlan is a COPY resolved: where each source goes and as whom.
type copyPlan struct {
	sources []copySource
	dest    string // absolute, clean
	destDir bool   // sources go into dest (a directory), not as dest
	own     dockerfile.Owner
	chowned bool
	add     bool
}

// copy is a COPY or ADD step: found in the cache, or its layer written
// from the context (or another stage) without a container.
func (b *builder) copy(ctx context.Context, st *stageState, sp *step, a copyArgs, c instructions.Command) error {
	name := strings.ToUpper(c.Name())
	switch {
	case a.parents:
		return b.file.Errorf(sp.loc, "%s --parents is not supported by hull's builder", name)
	case len(a.excludes) > 0:
		return b.file.Errorf(sp.loc, "%s --exclude is not supported by hull's builder", name)
	case a.checksum != "":
		return b.file.Errorf(sp.loc, "ADD --checksum is not supported by hull's builder (remote sources are refused)")
	}
	p := &copyPlan{add: a.add}
	dest := a.DestPath
	if !path.IsAbs(dest) {
		wd := st.conf.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		dest = path.Join(wd, dest)
	}
	p.dest = path.Clean(dest)
	p.destDir = strings.HasSuffix(a.DestPath, "/") || strings.HasSuffix(a.DestPath, "/.") || a.DestPath == "."
	var srcImg *Image
	if a.from != "" {
		var err error
		if srcImg, err = b.copyFrom(ctx, st, a.from); err != nil {
			return b.at(sp.loc, err)
		}
	}
	keyParts := []string{name, p.dest, strconv.FormatBool(p.destDir), a.chown, a.chmod}
	for _, src := range a.SourcePaths {
		if a.add && isRemote(src) {
			return b.file.Errorf(sp.loc, "ADD %s: remote sources are not supported: hull's builder has no network for build steps (use RUN with WithBuildNetwork, or download into the context)", src)
		}
		if srcImg != nil {
			rel := dockerfile.Clean(src)
			p.sources = append(p.sources, copySource{rel: rel, img: srcImg})
			keyParts = append(keyParts, "from", srcImg.ID(), rel)
			continue
		}
		rels, err := b.bctx.Match(src)
		if err != nil {
			return b.file.Wrap(sp.loc, fmt.Errorf("%s %s: %w", name, src, err))
		}
		for _, rel := range rels {
			dir, err := b.bctx.IsDir(rel)
			if err != nil {
				return b.file.Wrap(sp.loc, err)
			}
			sum, err := b.bctx.Hash(rel)
			if err != nil {
				return b.file.Wrap(sp.loc, err)
			}
			p.sources = append(p.sources, copySource{rel: rel, dir: dir})
			keyParts = append(keyParts, rel, sum)
		}
	}
	for i := range a.SourceContents {
		sc := a.SourceContents[i]
		p.sources = append(p.sources, copySource{content: &sc})
		keyParts = append(keyParts, "inline", sc.Path, sc.Data)
	}
	if len(p.sources) > 1 && !p.destDir {
		return b.file.Errorf(sp.loc, "When using %s with more than one source file, the destination must be a directory and end with a /", name)
	}
	if err := b.copyOwner(st, a, p); err != nil {
		return b.file.Wrap(sp.loc, err)
	}
	var srcs []string
	for _, s := range a.SourcePaths {
		srcs = append(srcs, s)
	}
	for _, s := range a.SourceContents {
		srcs = append(srcs, "<<"+s.Path)
	}
	// As BuildKit: the command, --chown and --chmod (not --from), the
	// sources and the destination.
	created := name
	if a.chown != "" {
		created += " --chown=" + a.chown
	}
	if a.chmod != "" {
		created += " --chmod=" + a.chmod
	}
	created = fmt.Sprintf("%s %s %s # buildkit", created, strings.Join(srcs, " "), a.DestPath)
	key, _ := json.Marshal(keyParts)
	return b.layerStep(ctx, st, sp, created, []string{string(key)}, func() (*Image, error) {
		return b.copyLayer(ctx, st, p)
	})
}

// copyFrom is the image of COPY --from: an earlier stage's (waited for)
// or an image's (pulled if missing).
func (b *builder) copyFrom(ctx context.Context, st *stageState, from string) (*Image, error) {
	for i, s := range b.stages {
		if s.name == st.name {
			break
		}
		if strings.EqualFold(s.st.Name, from) || strconv.Itoa(i) == from {
			if err := b.waitStage(ctx, s); err != nil {
				return nil, err
			}
			return s.img, nil
		}
	}
	return b.baseImage(ctx, from)
}

func isRemote(src string) bool {
	for _, p := range []string{"http://", "https://", "git@", "git://"} {
		if strings.HasPrefix(src, p) {
			return true
		}
	}
	return false
}

// copyOwner sets p's owner (--chown: names looked up in the image's
// /etc/passwd and /etc/group; a user without group gives the uid as gid,
// as Docker) and mode (--chmod, octal). Default: 0:0, the source's mode.
func (b *builder) copyOwner(st *stageState, a copyArgs, p *copyPlan) error {
	if a.chmod != "" {
		m, err := strconv.ParseUint(a.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("--chmod=%s: want an octal mode", a.chmod)
		}
		p.own.Mode = fs.FileMode(m)
		if p.own.Mode == 0 {
			p.own.Mode = 0o10000 // an explicit 0: apply = nothing; kept apart from "not set"
		}
	}
	if a.chown == "" {
		return nil
	}
	uid, gid, err := b.resolveChown(st, a.chown)
	if err != nil {
		return fmt.Errorf("--chown=%s: %w", a.chown, err)
	}
	p.own.UID, p.own.GID, p.chowned = uid, gid, true
	return nil
}
