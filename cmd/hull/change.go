package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// parseChanges applies `--change` Dockerfile instructions, in order, to an
// empty image configuration, as `docker import --change` does. Variables
// ($VAR) are not expanded.
func parseChanges(changes []string) (ocispec.ImageConfig, error) {
	var cfg ocispec.ImageConfig
	for _, c := range changes {
		if err := applyChange(&cfg, c); err != nil {
			return cfg, fmt.Errorf("--change %q: %w", c, err)
		}
	}
	return cfg, nil
}

func applyChange(cfg *ocispec.ImageConfig, change string) error {
	change = strings.TrimSpace(change)
	instr, rest := change, ""
	if i := strings.IndexFunc(change, unicode.IsSpace); i >= 0 {
		instr, rest = change[:i], strings.TrimSpace(change[i:])
	}
	instr = strings.ToUpper(instr)
	if rest == "" {
		return fmt.Errorf("%s requires at least one argument", instr)
	}
	var err error
	switch instr {
	case "CMD":
		cfg.Cmd = execForm(rest)
	case "ENTRYPOINT":
		cfg.Entrypoint = execForm(rest)
	case "ENV":
		err = eachKeyValue(rest, func(k, v string) { cfg.Env = setEnv(cfg.Env, k, v) })
	case "LABEL":
		err = eachKeyValue(rest, func(k, v string) {
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			cfg.Labels[k] = v
		})
	case "WORKDIR":
		// Relative to the previous WORKDIR, as in a Dockerfile.
		cfg.WorkingDir = path.Join("/", cfg.WorkingDir, rest)
	case "USER":
		cfg.User = rest
	case "STOPSIGNAL":
		if strings.ContainsFunc(rest, unicode.IsSpace) {
			return errors.New("STOPSIGNAL takes one signal")
		}
		cfg.StopSignal = rest
	case "EXPOSE":
		err = expose(cfg, rest)
	case "VOLUME":
		err = volume(cfg, rest)
	case "ONBUILD", "HEALTHCHECK", "SHELL":
		return fmt.Errorf("%s is not supported by hull import", instr)
	default:
		return fmt.Errorf("unknown instruction %s (want CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR)", instr)
	}
	return err
}

// execForm reads a JSON array (exec form) or else a command line (shell
// form), which runs as /bin/sh -c.
func execForm(s string) []string {
	if strings.HasPrefix(s, "[") {
		var argv []string
		if json.Unmarshal([]byte(s), &argv) == nil {
			return argv
		}
	}
	return []string{"/bin/sh", "-c", s}
}

// eachKeyValue reads "k=v k2='v 2'" or the old single-pair form "k v".
func eachKeyValue(s string, fn func(k, v string)) error {
	words, err := splitWords(s)
	if err != nil {
		return err
	}
	if len(words) > 0 && !strings.Contains(words[0], "=") {
		// Old form: the value is the rest of the line, spaces and all.
		i := strings.IndexFunc(s, unicode.IsSpace)
		if i < 0 {
			return fmt.Errorf("%q: want key=value or key value", s)
		}
		fn(words[0], unquote(strings.TrimSpace(s[i:])))
		return nil
	}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q: want key=value", w)
		}
		fn(k, v)
	}
	return nil
}

// unquote removes the quotes around a whole value.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// setEnv sets k in env, replacing an earlier value.
func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if strings.HasPrefix(kv, k+"=") {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// splitWords splits s at unquoted white space, removing quotes and
// backslash escapes as the Dockerfile shell lexer does.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, escaped := false, false
	var quote rune
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote == '\'' && r != '\'':
			cur.WriteRune(r)
		case r == '\\':
			escaped, inWord = true, true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case unicode.IsSpace(r):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if escaped {
		cur.WriteRune('\\')
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// expose adds "80", "53/udp" or "8000-8002/tcp" to the exposed ports.
func expose(cfg *ocispec.ImageConfig, s string) error {
	for _, spec := range strings.Fields(s) {
		ports, proto, _ := strings.Cut(spec, "/")
		proto = strings.ToLower(proto)
		switch proto {
		case "":
			proto = "tcp"
		case "tcp", "udp", "sctp":
		default:
			return fmt.Errorf("EXPOSE %s: unknown protocol %q", spec, proto)
		}
		lo, hi, isRange := strings.Cut(ports, "-")
		if !isRange {
			hi = lo
		}
		first, err1 := strconv.ParseUint(lo, 10, 16)
		last, err2 := strconv.ParseUint(hi, 10, 16)
		if err1 != nil || err2 != nil || first == 0 || last < first {
			return fmt.Errorf("EXPOSE %s: invalid port", spec)
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for p := first; p <= last; p++ {
			cfg.ExposedPorts[fmt.Sprintf("%d/%s", p, proto)] = struct{}{}
		}
	}
	return nil
}

// volume adds the paths of `VOLUME ["/a", "/b"]` or `VOLUME /a /b`.
func volume(cfg *ocispec.ImageConfig, s string) error {
	var paths []string
	if !strings.HasPrefix(s, "[") || json.Unmarshal([]byte(s), &paths) != nil {
		var err error
		if paths, err = splitWords(s); err != nil {
			return err
		}
	}
	if cfg.Volumes == nil {
		cfg.Volumes = map[string]struct{}{}
	}
	for _, p := range paths {
		if p == "" {
			return errors.New("VOLUME: empty path")
		}
		cfg.Volumes[p] = struct{}{}
	}
	return nil
}
