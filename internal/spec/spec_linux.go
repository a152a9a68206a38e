package spec

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ErrInvalid is wrapped by every error Generate returns for malformed options: an empty
// command, an unknown capability or rlimit, a relative path, limits that contradict each
// other. Errors reading the rootfs do not wrap it.
var ErrInvalid = errors.New("invalid option")

// ErrUnknownUser is wrapped by the error ResolveUser (and Generate) returns when a user or
// group name is not in the rootfs's /etc/passwd or /etc/group. Its text is Docker's:
// "unable to find user NAME: no matching entries in passwd file".
var ErrUnknownUser = errors.New("unknown user or group")

// Annotations Generate sets, besides the image's and the caller's labels.
const (
	// AnnotationInit is "true" when Options.Init asked for a reaping PID 1; the caller
	// injects it.
	AnnotationInit = "io.hullbox.hull.init"
	// AnnotationStopSignal names the signal Stop sends first: Options.StopSignal, else the
	// image's StopSignal, else SIGTERM; normalised to "SIGNAME" (or a number for
	// real-time signals).
	AnnotationStopSignal = "io.hullbox.hull.stop-signal"
)

// DefaultPath is the PATH a container gets when neither the image nor the caller sets one
// (Docker's).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Generate returns the OCI runtime spec for a container whose root filesystem is rootfs,
// following Docker's defaults. It reads the rootfs's (or Options.UserFS's) /etc/passwd and
// /etc/group to resolve the user and HOME; nothing else in the rootfs.
func Generate(rootfs string, o Options) (*specs.Spec, error) {
	if rootfs == "" {
		return nil, invalidf("empty rootfs path")
	}
	proc, err := buildProcess(rootfs, &o)
	if err != nil {
		return nil, err
	}
	linux, err := buildLinux(&o, proc.Capabilities.Bounding)
	if err != nil {
		return nil, err
	}
	mounts, err := buildMounts(&o)
	if err != nil {
		return nil, err
	}
	annotations, err := buildAnnotations(&o)
	if err != nil {
		return nil, err
	}
	return &specs.Spec{
		Version:     specs.Version,
		Process:     proc,
		Root:        &specs.Root{Path: rootfs, Readonly: o.ReadonlyRootfs},
		Hostname:    hostname(&o),
		Mounts:      mounts,
		Annotations: annotations,
		Linux:       linux,
	}, nil
}

// buildProcess resolves what the container's first process is and runs as.
func buildProcess(rootfs string, o *Options) (*specs.Process, error) {
	args, err := processArgs(o)
	if err != nil {
		return nil, err
	}
	cwd, err := workingDir(o)
	if err != nil {
		return nil, err
	}
	user := o.User
	if user == "" {
		user = o.Image.User
	}
	u, err := resolveIn(rootfs, o.UserFS, user)
	if err != nil {
		return nil, err
	}
	env, err := mergeEnv(o, u.home)
	if err != nil {
		return nil, err
	}
	caps, err := capabilities(o, u.uid)
	if err != nil {
		return nil, err
	}
	rlimits, err := buildRlimits(o)
	if err != nil {
		return nil, err
	}
	oomScoreAdj := 0
	return &specs.Process{
		Terminal:        o.TTY,
		User:            specs.User{UID: u.uid, GID: u.gid, AdditionalGids: u.groups},
		Args:            args,
		Env:             env,
		Cwd:             cwd,
		Capabilities:    caps,
		Rlimits:         rlimits,
		NoNewPrivileges: !o.Privileged && !o.AllowNewPrivileges,
		OOMScoreAdj:     &oomScoreAdj,
	}, nil
}

// processArgs applies Docker's precedence: an entrypoint override (even an empty one)
// drops the image's Cmd; a Cmd override replaces the image's Cmd; the process runs
// Entrypoint followed by Cmd.
func processArgs(o *Options) ([]string, error) {
	entrypoint, cmd := o.Image.Entrypoint, o.Image.Cmd
	if o.EntrypointSet || len(o.Entrypoint) > 0 {
		entrypoint, cmd = o.Entrypoint, nil
	}
	if len(o.Cmd) > 0 {
		cmd = o.Cmd
	}
	args := make([]string, 0, len(entrypoint)+len(cmd))
	args = append(append(args, entrypoint...), cmd...)
	if len(args) == 0 || args[0] == "" {
		return nil, invalidf("no command specified")
	}
	return args, nil
}

// workingDir is Options.WorkingDir, else the image's, else "/". Like Docker, a relative
// WorkingDir is refused (an image's is taken relative to "/").
func workingDir(o *Options) (string, error) {
	switch {
	case o.WorkingDir != "":
		if !path.IsAbs(o.WorkingDir) {
			return "", invalidf("working directory %q is not an absolute path", o.WorkingDir)
		}
		return path.Clean(o.WorkingDir), nil
	case o.Image.WorkingDir != "":
		return path.Join("/", o.Image.WorkingDir), nil
	}
	return "/", nil
}

func hostname(o *Options) string {
	if o.Hostname != "" {
		return o.Hostname
	}
	if len(o.ID) > 12 {
		return o.ID[:12]
	}
	return o.ID
}

// mergeEnv builds the environment as Docker does: PATH, HOSTNAME and (with a TTY) TERM
// first, then the image's Env and the caller's over them by key, then HOME from the
// passwd entry if nobody set it.
func mergeEnv(o *Options, home string) ([]string, error) {
	env := []string{"PATH=" + DefaultPath, "HOSTNAME=" + hostname(o)}
	if o.TTY {
		env = append(env, "TERM=xterm")
	}
	for _, kv := range o.Image.Env {
		if k, _, ok := strings.Cut(kv, "="); ok && k != "" {
			env = setEnv(env, kv)
		}
	}
	for _, kv := range o.Env {
		k, _, ok := strings.Cut(kv, "=")
		switch {
		case k == "":
			return nil, invalidf("invalid environment variable %q", kv)
		case !ok:
			env = unsetEnv(env, k)
		default:
			env = setEnv(env, kv)
		}
	}
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME="+home)
	}
	return env, nil
}

// setEnv replaces the entry with kv's key in place, or appends kv.
func setEnv(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if strings.HasPrefix(e, k+"=") {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

func unsetEnv(env []string, key string) []string {
	out := env[:0]
	for _, e := range env {
		if !strings.HasPrefix(e, key+"=") {
			out = append(out, e)
		}
	}
	return out
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}

// buildAnnotations records the image's labels, the caller's labels over them, and
// hull's own keys (which labels cannot override).
func buildAnnotations(o *Options) (map[string]string, error) {
	sig := o.StopSignal
	if sig == "" {
		sig = o.Image.StopSignal
	}
	stop, err := normalizeSignal(sig)
	if err != nil {
		return nil, err
	}
	a := make(map[string]string, len(o.Image.Labels)+len(o.Labels)+2)
	maps.Copy(a, o.Image.Labels)
	maps.Copy(a, o.Labels)
	a[AnnotationStopSignal] = stop
	if o.Init {
		a[AnnotationInit] = "true"
	} else {
		delete(a, AnnotationInit)
	}
	return a, nil
}

// normalizeSignal accepts "SIGTERM", "term", "15" or "RTMIN+3" (glibc's SIGRTMIN, 34,
// as Docker counts) and returns "SIGTERM", or the number for a real-time signal. "" is
// SIGTERM.
func normalizeSignal(s string) (string, error) {
	if s == "" {
		return "SIGTERM", nil
	}
	name := strings.ToUpper(strings.TrimSpace(s))
	num := 0
	if n, err := strconv.Atoi(name); err == nil {
		num = n
	} else {
		name = "SIG" + strings.TrimPrefix(name, "SIG")
		if rest, ok := strings.CutPrefix(name, "SIGRTMIN+"); ok {
			n, err := strconv.Atoi(rest)
			if err != nil {
				return "", invalidf("invalid stop signal %q", s)
			}
			num = 34 + n
		} else if rest, ok := strings.CutPrefix(name, "SIGRTMAX-"); ok {
			n, err := strconv.Atoi(rest)
			if err != nil {
				return "", invalidf("invalid stop signal %q", s)
			}
			num = 64 - n
		} else if sig := unix.SignalNum(name); sig != 0 {
			return name, nil
		}
	}
	if num < 1 || num > 64 {
		return "", invalidf("invalid stop signal %q", s)
	}
	if n := unix.SignalName(syscall.Signal(num)); n != "" {
		return n, nil
	}
	return strconv.Itoa(num), nil
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrInvalid)...)
}
