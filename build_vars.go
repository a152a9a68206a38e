package hull

import (
	"runtime"
	"slices"
	"strings"

	"github.com/hullbox/hull/internal/manifest"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// buildVars are the ARGs in scope: those before the first FROM (meta),
// or a stage's, with the values of WithBuildArg.
type buildVars struct {
	args  []argVal
	build map[string]string
	meta  *buildVars // a stage's: the meta ARGs, whose values `ARG NAME` inherits
}

type argVal struct {
	key string
	val *string
}

// proxyArgs are the build arguments Docker passes to RUN steps without an
// ARG, and leaves out of the history and the cache key.
var proxyArgs = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}

// platformArgs are BuildKit's automatic platform ARGs: in scope before
// the first FROM, and in a stage that declares them.
func platformArgs() map[string]string {
	p := manifest.HostPlatform()
	plat := platformString(p)
	return map[string]string{
		"TARGETPLATFORM": plat, "TARGETOS": p.OS, "TARGETARCH": p.Architecture, "TARGETVARIANT": p.Variant,
		"BUILDPLATFORM": plat, "BUILDOS": p.OS, "BUILDARCH": runtime.GOARCH, "BUILDVARIANT": p.Variant,
	}
}

func (b *builder) metaVars() (*buildVars, error) {
	v := &buildVars{build: b.cfg.args}
	for k, val := range platformArgs() {
		v.args = append(v.args, argVal{key: k, val: &val})
	}
	for _, a := range b.file.MetaArgs {
		for _, kv := range a.Args {
			if err := v.declare(b, kv.Key, kv.Value, nil); err != nil {
				return nil, b.file.Wrap(a.Location(), err)
			}
		}
	}
	return v, nil
}

func (v *buildVars) stageScope() *buildVars {
	return &buildVars{build: v.build, meta: v}
}

// declare adds ARG key[=def] to the scope: the build argument's value if
// given, else def expanded, else the meta ARG's value.
func (v *buildVars) declare(b *builder, key string, def *string, env []string) error {
	var val *string
	if bv, ok := v.build[key]; ok {
		b.consumed.Store(key, true)
		val = &bv
	} else if def != nil {
		x, _, err := b.file.Lex().ProcessWord(*def, v.getter(env))
		if err != nil {
			return err
		}
		val = &x
	} else if v.meta != nil {
		val = v.meta.get(key)
	}
	v.args = slices.DeleteFunc(v.args, func(a argVal) bool { return a.key == key })
	v.args = append(v.args, argVal{key: key, val: val})
	return nil
}

func (v *buildVars) get(key string) *string {
	for _, a := range v.args {
		if a.key == key {
			return a.val
		}
	}
	return nil
}

// set returns the ARGs that have a value, as KEY=value, in declaration
// order, leaving out those env sets (ENV wins over ARG).
func (v *buildVars) set(env []string) []string {
	var out []string
	for _, a := range v.args {
		if a.val == nil || envHas(env, a.key) {
			continue
		}
		if _, auto := platformArgs()[a.key]; auto && v.meta == nil {
			continue
		}
		out = append(out, a.key+"="+*a.val)
	}
	return out
}

// history returns the ARGs as BuildKit's history of a RUN step names
// them: every declared one, in declaration order, with the value the
// step's environment env gives it (ENV wins), else its own, else none
// ("KEY=").
func (v *buildVars) history(env []string) []string {
	var out []string
	for _, a := range v.args {
		if _, auto := platformArgs()[a.key]; auto && v.meta == nil {
			continue
		}
		val := ""
		if a.val != nil {
			val = *a.val
		}
		for _, kv := range env {
			if k, x, ok := strings.Cut(kv, "="); ok && k == a.key {
				val = x
			}
		}
		out = append(out, a.key+"="+val)
	}
	return out
}

func (v *buildVars) expand(lex *shell.Lex, word string) (string, map[string]struct{}, error) {
	return lex.ProcessWord(word, v.getter(nil))
}

func envHas(env []string, key string) bool {
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			return true
		}
	}
	return false
}

// envGetter is the variables an instruction sees: the image's Env, then
// the ARGs in scope.
type envGetter struct {
	env  []string
	vars *buildVars
}

func (v *buildVars) getter(env []string) envGetter { return envGetter{env: env, vars: v} }

func (g envGetter) Get(key string) (string, bool) {
	for i := len(g.env) - 1; i >= 0; i-- {
		if k, val, _ := strings.Cut(g.env[i], "="); k == key {
			return val, true
		}
	}
	if g.vars != nil {
		if p := g.vars.get(key); p != nil {
			return *p, true
		}
	}
	return "", false
}

func (g envGetter) Keys() []string {
	var keys []string
	for _, e := range g.env {
		k, _, _ := strings.Cut(e, "=")
		keys = append(keys, k)
	}
	if g.vars != nil {
		for _, a := range g.vars.args {
			if a.val != nil {
				keys = append(keys, a.key)
			}
		}
	}
	return keys
}

// setEnv sets KEY=value in env, replacing KEY's earlier value in place.
func setEnv(env []string, key, value string) []string {
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			env = slices.Clone(env)
			env[i] = key + "=" + value
			return env
		}
	}
	return append(slices.Clone(env), key+"="+value)
}
