package hull

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hullbox/hull/internal/dockerfile"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// dispatch runs one instruction on st.
func (b *builder) dispatch(ctx context.Context, st *stageState, sp *step, c instructions.Command) error {
	env := st.conf.Config.Env
	expander := func(word string) (string, error) {
		out, _, err := b.file.Lex().ProcessWord(word, st.vars.getter(env))
		return out, err
	}
	if e, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		if err := e.Expand(expander); err != nil {
			return b.file.Wrap(sp.loc, err)
		}
	}
	if e, ok := c.(instructions.SupportsSingleWordExpansionRaw); ok {
		if err := e.ExpandRaw(expander); err != nil {
			return b.file.Wrap(sp.loc, err)
		}
	}
	switch c := c.(type) {
	case *instructions.RunCommand:
		return b.run(ctx, st, sp, c)
	case *instructions.CopyCommand:
		return b.copy(ctx, st, sp, copyArgs{SourcesAndDest: c.SourcesAndDest, from: c.From, chown: c.Chown, chmod: c.Chmod, excludes: c.ExcludePatterns, parents: c.Parents}, c)
	case *instructions.AddCommand:
		return b.copy(ctx, st, sp, copyArgs{SourcesAndDest: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, add: true, excludes: c.ExcludePatterns, checksum: c.Checksum}, c)
	case *instructions.ArgCommand:
		for _, kv := range c.Args {
			if err := st.vars.declare(b, kv.Key, kv.Value, env); err != nil {
				return b.file.Wrap(sp.loc, err)
			}
		}
		st.key = chainKey(st.key, "ARG", strings.Join(st.vars.set(nil), "\x00"))
		// As BuildKit: "ARG NAME=value ..." with the values the ARGs
		// took (NAME alone for one without a value), no layer.
		var parts []string
		for _, kv := range c.Args {
			if v := st.vars.get(kv.Key); v != nil {
				parts = append(parts, kv.Key+"="+*v)
			} else {
				parts = append(parts, kv.Key)
			}
		}
		now := time.Now().UTC()
		st.conf.History = append(st.conf.History, ocispec.History{Created: &now, CreatedBy: "ARG " + strings.Join(parts, " "), Comment: "buildkit.dockerfile.v0", EmptyLayer: true})
		st.dirty = true
		return nil
	}
	created := fmt.Sprintf("%s %s", strings.ToUpper(c.Name()), strings.TrimSpace(strings.TrimPrefix(sp.text, strings.ToUpper(c.Name()))))
	if err := b.configStep(st, sp, c, &created); err != nil {
		return err
	}
	data, _ := json.Marshal(c)
	if _, ok := c.(*instructions.WorkdirCommand); ok && !b.hasDir(st, st.conf.Config.WorkingDir) {
		// As Docker, WORKDIR makes the directory: a layer holding it.
		wd := st.conf.Config.WorkingDir
		return b.layerStep(ctx, st, sp, created, []string{"WORKDIR", wd}, func() (*Image, error) {
			return b.copyLayer(ctx, st, &copyPlan{dest: wd, destDir: true})
		})
	}
	st.key = chainKey(st.key, c.Name(), string(data))
	now := time.Now().UTC()
	if created != "" {
		st.conf.History = append(st.conf.History, ocispec.History{Created: &now, CreatedBy: created, Comment: "buildkit.dockerfile.v0", EmptyLayer: true})
	}
	st.dirty = true
	b.event(BuildEvent{Kind: BuildStepDone, Stage: st.name, Step: sp.n, Instruction: sp.text})
	return nil
}

// configStep applies an instruction that only changes the image's config.
func (b *builder) configStep(st *stageState, sp *step, c instructions.Command, created *string) error {
	cf := &st.conf.Config
	switch c := c.(type) {
	case *instructions.EnvCommand:
		var parts []string
		for _, kv := range c.Env {
			cf.Env = setEnv(cf.Env, kv.Key, kv.Value)
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		*created = "ENV " + strings.Join(parts, " ")
	case *instructions.WorkdirCommand:
		dir := c.Path
		if !path.IsAbs(dir) {
			dir = path.Join("/", cf.WorkingDir, dir)
		}
		cf.WorkingDir = path.Clean(dir)
		*created = "WORKDIR " + cf.WorkingDir
	case *instructions.UserCommand:
		cf.User = c.User
		*created = "USER " + c.User
	case *instructions.CmdCommand:
		cf.Cmd = b.withShell(st, c.ShellDependantCmdLine)
		st.cmdSet = true
		*created = fmt.Sprintf("CMD %q", cf.Cmd)
	case *instructions.EntrypointCommand:
		cf.Entrypoint = b.withShell(st, c.ShellDependantCmdLine)
		if !st.cmdSet {
			cf.Cmd = nil // an inherited Cmd does not apply to a new entrypoint
		}
		*created = fmt.Sprintf("ENTRYPOINT %q", cf.Entrypoint)
	case *instructions.LabelCommand:
		cf.Labels = mergeLabels(cf.Labels, nil)
		var parts []string
		for _, kv := range c.Labels {
			cf.Labels[kv.Key] = kv.Value
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		*created = "LABEL " + strings.Join(parts, " ")
	case *instructions.ExposeCommand:
		if cf.ExposedPorts == nil {
			cf.ExposedPorts = map[string]struct{}{}
		}
		var ports []string
		for _, p := range c.Ports {
			words, err := b.file.Lex().ProcessWords(p, st.vars.getter(cf.Env))
			if err != nil {
				return b.file.Wrap(sp.loc, err)
			}
			for _, w := range words {
				if !strings.Contains(w, "/") {
					w += "/tcp"
				}
				num, proto, _ := strings.Cut(w, "/")
				if _, err := strconv.ParseUint(strings.Split(num, "-")[0], 10, 16); err != nil || (proto != "tcp" && proto != "udp" && proto != "sctp") {
					return b.file.Errorf(sp.loc, "EXPOSE %s: want PORT[/tcp|udp|sctp]", w)
				}
				cf.ExposedPorts[w] = struct{}{}
				ports = append(ports, w)
			}
		}
		*created = "EXPOSE " + strings.Join(ports, " ")
	case *instructions.VolumeCommand:
		if cf.Volumes == nil {
			cf.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if strings.TrimSpace(v) == "" {
				return b.file.Errorf(sp.loc, "VOLUME: empty path")
			}
			if c.Unset {
				delete(cf.Volumes, v)
			} else {
				cf.Volumes[v] = struct{}{}
			}
		}
		*created = fmt.Sprintf("VOLUME %v", c.Volumes)
		if c.Unset {
			*created = fmt.Sprintf("VOLUME --unset %v", c.Volumes)
		}
	case *instructions.StopSignalCommand:
		if err := validSignal(c.Signal); err != nil {
			return b.file.Errorf(sp.loc, "STOPSIGNAL %s: %v", c.Signal, err)
		}
		cf.StopSignal = c.Signal
		*created = "STOPSIGNAL " + c.Signal
	case *instructions.HealthCheckCommand:
		h := *c.Health
		if len(h.Test) > 0 && h.Test[0] == "CMD-SHELL" && len(st.conf.Config.Shell) > 0 {
			h.Test = append([]string{"CMD-SHELL"}, h.Test[1:]...)
		}
		st.conf.Config.Healthcheck = &h
		*created = fmt.Sprintf("HEALTHCHECK %+v", h)
	case *instructions.ShellCommand:
		st.conf.Config.Shell = append([]string(nil), c.Shell...)
		*created = fmt.Sprintf("SHELL %v", c.Shell)
	case *instructions.OnbuildCommand:
		st.conf.Config.OnBuild = append(append([]string(nil), st.conf.Config.OnBuild...), c.Expression)
		*created = "" // BuildKit records no history for ONBUILD
	case *instructions.MaintainerCommand:
		st.conf.Author = c.Maintainer
		*created = "MAINTAINER " + c.Maintainer
	default:
		return b.file.Errorf(sp.loc, "%s is not supported by hull's builder", strings.ToUpper(c.Name()))
	}
	return nil
}

func jsonArgs(args []string) string {
	data, _ := json.Marshal(args)
	return string(data)
}

// shell is the stage's SHELL, /bin/sh -c by default.
func (st *stageState) shell() []string {
	if len(st.conf.Config.Shell) > 0 {
		return st.conf.Config.Shell
	}
	return []string{"/bin/sh", "-c"}
}

// withShell is a CMD or ENTRYPOINT's command: the exec form as written,
// the shell form given to the stage's shell.
func (b *builder) withShell(st *stageState, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return append([]string{}, c.CmdLine...)
	}
	return append(append([]string(nil), st.shell()...), strings.Join(c.CmdLine, " "))
}

// run is a RUN step: found in the cache, or run in a container and
// committed.
func (b *builder) run(ctx context.Context, st *stageState, sp *step, c *instructions.RunCommand) error {
	mounts, mountKey, err := b.runMounts(st, instructions.GetMounts(c))
	if err != nil {
		return b.file.Wrap(sp.loc, err)
	}
	for _, f := range c.FlagsUsed {
		if f != "mount" {
			return b.file.Errorf(sp.loc, "RUN --%s is not supported by hull's builder", f)
		}
	}
	argv := c.CmdLine
	if c.PrependShell {
		var script *dockerfile.Script
		if argv, script, err = dockerfile.Heredoc(c, st.shell()); err != nil {
			return b.file.Wrap(sp.loc, err)
		}
		if len(c.Files) == 0 {
			argv = append(append([]string(nil), st.shell()...), strings.Join(c.CmdLine, " "))
		}
		if script != nil {
			mounts = append(mounts, runMount{Type: "script", Target: "/dev/pipes", ID: script.Name, Data: script.Data})
			data, _ := json.Marshal(mounts)
			mountKey = string(data)
		}
	}
	if len(argv) == 0 {
		return b.file.Errorf(sp.loc, "RUN: no command")
	}
	args := st.vars.set(st.conf.Config.Env)
	created := "RUN " + strings.Join(argv, " ") + " # buildkit"
	if hist := st.vars.history(st.conf.Config.Env); len(hist) > 0 {
		created = fmt.Sprintf("RUN |%d %s %s # buildkit", len(hist), strings.Join(hist, " "), strings.Join(argv, " "))
	}
	env := append(append([]string(nil), st.conf.Config.Env...), args...)
	for _, k := range proxyArgs {
		if v, ok := b.cfg.args[k]; ok && !envHas(env, k) {
			env = append(env, k+"="+v)
		}
	}
	keyArgs, _ := json.Marshal(args)
	return b.layerStep(ctx, st, sp, created, []string{"RUN", jsonArgs(argv), string(keyArgs), string(b.cfg.network), mountKey}, func() (*Image, error) {
		return b.runStep(ctx, st, sp, argv, env, mounts)
	})
}

// layerStep is a step that adds a layer: its image is found by key in the
// cache, or made by do, then remembered.
func (b *builder) layerStep(ctx context.Context, st *stageState, sp *step, created string, key []string, do func() (*Image, error)) error {
	k := chainKey(st.key, key...)
	start := time.Now()
	if !b.cfg.noCache {
		if img := b.cached(k); img != nil {
			conf, err := b.rt.dockerConfig(img)
			if err != nil {
				return err
			}
			st.img, st.conf, st.key, st.dirty = img, conf, k, false
			b.event(BuildEvent{Kind: BuildStepCached, Stage: st.name, Step: sp.n, Instruction: sp.text, ImageID: img.ID()})
			return nil
		}
	}
	b.event(BuildEvent{Kind: BuildStepStarted, Stage: st.name, Step: sp.n, Instruction: sp.text})
	st.pendingHistory = created
	img, err := do()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.remember(k, img)
	conf, err := b.rt.dockerConfig(img)
	if err != nil {
		return err
	}
	st.img, st.conf, st.key, st.dirty = img, conf, k, false
	b.event(BuildEvent{Kind: BuildStepDone, Stage: st.name, Step: sp.n, Instruction: sp.text, Duration: time.Since(start), ImageID: img.ID()})
	return nil
}
