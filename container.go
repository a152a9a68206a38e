package hull

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/hullbox/hull/internal/attach"
	"github.com/hullbox/hull/internal/statedir"
)

// Container is one container: its state lives in the Runtime's root under
// containers/<id>/ so that other processes find it. A Container created by
// this Runtime is owned by it: it is killed and removed by rt.Close, and
// killed by the kernel if this process dies. The caller removes it with
// Remove when done. Its root filesystem is not synced to disk (a volatile
// overlay, as podman mounts --rm containers'): it lives no longer than
// this process, so only a machine crash could lose what it wrote there,
// even what it fsynced. Data that must outlast that belongs in a volume,
// or in a Detached container, whose root is synced as Docker's is.
type Container struct {
	rt *Runtime
	id string

	mu       sync.Mutex
	st       containerState
	lp       *liveProcess // non-nil while this Runtime owns a live process
	execBase execBase     // the config execs start from (exec_linux.go)
	// pending is what Create kept for the Start that gives the container
	// its init, while this Runtime created it and no init was launched
	// (container_linux.go): nil once launched, removed, or started
	// elsewhere.
	pending *pendingStart
	// stamp, when not zero, is the stamp of the state file st was read
	// from, an exit that stays as it is until that file changes
	// (readStates): refresh need not read it again while its stamp is
	// the same.
	stamp statedir.Stamp
	// restarts are this Runtime's restarts of the container by its
	// policy (restartpolicy_linux.go), under mu.
	restarts restarter
}

// ExitStatus is how a container's main process ended.
type ExitStatus struct {
	// ExitCode is the exit code, Docker style: 128+signal when a signal ended
	// the process, 125 when hull failed to set the container up, 126 when
	// the command is not executable, 127 when it does not exist.
	ExitCode int
	// Signal is the signal that ended the process, or 0.
	Signal syscall.Signal
	// OOMKilled reports that the kernel's OOM killer killed a process of
	// the container (its memory limit was reached).
	OOMKilled bool
}

// StartError is the error a container's setup returns when it fails
// inside the container (bad command, user, mount...). Its ExitCode follows
// Docker: 126 not executable, 127 not found, 125 anything else. It wraps
// the errno when there is one, so errors.Is(err, fs.ErrNotExist) works.
type StartError struct {
	ID       string // container ID
	Stage    string // what failed: "mount", "user", "exec"...
	ExitCode int    // what Wait reports for it: 125, 126 or 127
	Err      error  // the cause (Unwrap)
}

// Error says which container failed to start, at which stage and why.
func (e *StartError) Error() string {
	return fmt.Sprintf("start container %s: %s: %v", shortContainerID(e.ID), e.Stage, e.Err)
}

// Unwrap returns the cause, so that errors.Is sees the errno.
func (e *StartError) Unwrap() error { return e.Err }

// ID returns the container's ID: 64 hex digits.
func (c *Container) ID() string { return c.id }

// Name returns the container's name (without Docker's leading slash).
func (c *Container) Name() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Name
}

// Run is Create then Start. The image is looked up locally and pulled if missing.
// On any error it returns nil and leaves nothing behind: a container
// whose start failed (a *StartError: command not found, not executable)
// is removed, with its anonymous volumes. To keep a failed container for
// inspection, use Create and Start.
func (rt *Runtime) Run(ctx context.Context, ref string, opts ...RunOption) (*Container, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	img, err := rt.Image(ctx, ref)
	if errors.Is(err, ErrNotFound) {
		if img, err = rt.Pull(ctx, ref); err != nil {
			return nil, fmt.Errorf("run %s: %w", ref, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("run %s: %w", ref, err)
	}
	c, err := rt.create(ctx, ref, img, opts...)
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		// As Docker's SDK habits expect (if err != nil, return): nothing
		// is left. A caller who wants the failed container to inspect
		// uses Create and Start.
		if rerr := c.Remove(context.WithoutCancel(ctx), WithForce(), WithRemoveVolumes()); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return nil, err
	}
	return c, nil
}

// Container finds a container by ID, unique ID prefix or name. It returns
// an error wrapping ErrNotFound if there is none.
func (rt *Runtime) Container(ctx context.Context, idOrName string) (*Container, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	found, err := rt.findState(idOrName)
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("container %s: %w", idOrName, ErrNotFound)
	}
	c, _ := rt.containerFor(*found)
	return c, nil
}

// findState is Container's search: the full ID, then the name (by the
// name index), then a unique ID prefix. It reads no state but the ones
// it may return.
func (rt *Runtime) findState(idOrName string) (*containerState, error) {
	if len(idOrName) == 64 && isHex(idOrName) {
		st, err := readState(rt.containerDir(idOrName))
		if err == nil {
			return &st, nil
		} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errStateLost) {
			return nil, err
		}
	}
	if name := strings.TrimPrefix(idOrName, "/"); validName(name) {
		if st, err := rt.namedState(name); st != nil || err != nil {
			return st, err
		}
	}
	if idOrName == "" || !isHex(idOrName) {
		return nil, nil
	}
	ids, err := statedir.IDs(rt.containersDir())
	if err != nil {
		return nil, err
	}
	var found *containerState
	for _, id := range ids {
		if !strings.HasPrefix(id, idOrName) {
			continue
		}
		st, err := readState(rt.containerDir(id))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errStateLost) {
			continue // a Create under way, a Remove half done
		} else if err != nil {
			return nil, err
		}
		if found != nil {
			return nil, fmt.Errorf("%w: container ID prefix %q is ambiguous", ErrConflict, idOrName)
		}
		found = &st
	}
	return found, nil
}

// Containers lists the containers in the root that the options keep,
// most recently created first. Default: the running and paused ones, as
// `docker ps`; WithAllContainers lists every one.
func (rt *Runtime) Containers(ctx context.Context, opts ...ContainersOption) ([]*Container, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	var cf containersConfig
	for _, o := range opts {
		if err := o(&cf); err != nil {
			return nil, fmt.Errorf("list containers: %w", err)
		}
	}
	states, stamps, err := rt.readStates(false)
	if err != nil {
		return nil, err
	}
	// Sorted by reference: a state is most of a KB to swap.
	order := make([]*containerState, len(states))
	for i := range states {
		order[i] = &states[i]
	}
	slices.SortFunc(order, func(a, b *containerState) int { return b.Created.Compare(a.Created) })
	out := make([]*Container, 0, len(states))
	for _, st := range order {
		c, owned := rt.containerFor(*st)
		if !owned {
			c.stamp = stamps[st.ID]
		}
		cur := st.view()
		if owned {
			cur = c.status() // ours: what we know is newer
		}
		if !cf.keep(&containerState{Name: st.Name, Status: cur, Labels: st.Labels}) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// containerFor returns this Runtime's live object for an owned container
// (and owned true), or a new one over the state read from disk.
func (rt *Runtime) containerFor(st containerState) (_ *Container, owned bool) {
	rt.ctrs.mu.Lock()
	defer rt.ctrs.mu.Unlock()
	if c := rt.ctrs.owned[st.ID]; c != nil {
		return c, true
	}
	return &Container{rt: rt, id: st.ID, st: st}, false
}

// newID returns a random ID of 64 hex digits: a container's, a network's,
// an anonymous volume's name.
func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func isHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

func shortContainerID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// containerSet is the Runtime's part for containers: the ones it owns and
// the sealed copy of the binary that containers start from.
type containerSet struct {
	mu    sync.Mutex
	owned map[string]*Container

	exeOnce sync.Once
	exe     *execFile
	exeErr  error

	spawner spawner // the thread inits are forked from

	linkDel sync.WaitGroup // background veth deletions (netsetup.DeleteLinksLater)
	dirDel  sync.WaitGroup // background deletions of removed containers' directories (cleanup)
}

// RunOption configures Create and Run.
type RunOption func(*runConfig) error

type runConfig struct {
	name       string
	cmd        []string
	cmdSet     bool
	entrypoint []string
	entrySet   bool
	env        []string
	workdir    string
	user       string
	hostname   string
	memory     int64
	pidsLimit  int64
	stdout     io.Writer
	opts       containerOptions // resources and security: options_container.go
	stdio      stdioConfig      // stdin, tty: stdio.go
	stderr     io.Writer
	dns        []string       // WithDNS: dns.go
	mounts     []mountRequest // volumes and binds: mounts.go
	net        netRunConfig   // networks: network.go
	publish    []portSpec     // WithPublish: publish.go
	logs       logLimits      // WithLogMaxSize, WithLogMaxFiles: log_limits.go
	health     *Healthcheck   // WithHealthcheck: health.go
	restart    RestartPolicy  // WithRestartPolicy: restartpolicy.go
	// attach is the attach socket Create serves for an owned container
	// until its Start wires its streams (wireStdio takes it), so that a
	// client attached before Start sees all of its output; nil if none.
	attachSrv *attach.Server
}

// WithName names the container. Names are unique in a root: Create fails
// with ErrConflict if the name is taken. Default: a generated name.
func WithName(name string) RunOption {
	return func(c *runConfig) error {
		if !validName(name) {
			return fmt.Errorf("%w: container name %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]*", ErrInvalidArgument, name)
		}
		c.name = name
		return nil
	}
}

func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if i > 0 {
			ok = ok || r == '_' || r == '.' || r == '-'
		}
		if !ok {
			return false
		}
	}
	return true
}

// WithCmd sets the command (the arguments after the entrypoint). Default:
// the image's Cmd, unless WithEntrypoint is given (then none), as Docker.
func WithCmd(args ...string) RunOption {
	return func(c *runConfig) error {
		c.cmd, c.cmdSet = slices.Clone(args), true
		return nil
	}
}

// WithEntrypoint sets the entrypoint; with no arguments it clears the
// image's. Default: the image's Entrypoint.
func WithEntrypoint(args ...string) RunOption {
	return func(c *runConfig) error {
		c.entrypoint, c.entrySet = slices.Clone(args), true
		return nil
	}
}

// WithEnv adds "KEY=value" variables, overriding the image's. Default: the
// image's Env (plus PATH and HOSTNAME, as Docker).
func WithEnv(kv ...string) RunOption {
	return func(c *runConfig) error {
		for _, e := range kv {
			if k, _, _ := strings.Cut(e, "="); k == "" {
				return fmt.Errorf("%w: env %q: want KEY=value", ErrInvalidArgument, e)
			}
		}
		c.env = append(c.env, kv...)
		return nil
	}
}

// WithWorkdir sets the working directory, created if missing. Default: the
// image's WorkingDir, else "/".
func WithWorkdir(dir string) RunOption {
	return func(c *runConfig) error {
		if !strings.HasPrefix(dir, "/") {
			return fmt.Errorf("%w: workdir %q is not absolute", ErrInvalidArgument, dir)
		}
		c.workdir = dir
		return nil
	}
}

// WithUser sets the user: "name", "uid", "name:group" or "uid:gid", names
// resolved in the container's /etc/passwd and /etc/group. Default: the
// image's User, else root.
func WithUser(user string) RunOption {
	return func(c *runConfig) error {
		c.user = user
		return nil
	}
}

// WithHostname sets the container's hostname. Default: the first 12
// characters of its ID, as Docker.
func WithHostname(name string) RunOption {
	return func(c *runConfig) error {
		if name == "" || len(name) > 64 || strings.ContainsAny(name, "/ \x00") {
			return fmt.Errorf("%w: hostname %q", ErrInvalidArgument, name)
		}
		c.hostname = name
		return nil
	}
}

// WithMemory limits the container's memory to bytes; the kernel's OOM
// killer ends it when exceeded (ExitStatus.OOMKilled). Default: unlimited.
func WithMemory(bytes int64) RunOption {
	return func(c *runConfig) error {
		if bytes < 6<<20 {
			return fmt.Errorf("%w: memory limit %d: minimum is 6 MiB", ErrInvalidArgument, bytes)
		}
		c.memory = bytes
		return nil
	}
}

// WithPidsLimit limits the number of processes and threads in the
// container. Default: unlimited.
func WithPidsLimit(n int64) RunOption {
	return func(c *runConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: pids limit %d", ErrInvalidArgument, n)
		}
		c.pidsLimit = n
		return nil
	}
}

// WithStdout sends the container's standard output to w. Default:
// discarded. hull copies to w until the container exits; Wait returns
// after the copy is done.
func WithStdout(w io.Writer) RunOption {
	return func(c *runConfig) error {
		c.stdout = w
		return nil
	}
}

// WithStderr sends the container's standard error to w. Default:
// discarded.
func WithStderr(w io.Writer) RunOption {
	return func(c *runConfig) error {
		c.stderr = w
		return nil
	}
}
