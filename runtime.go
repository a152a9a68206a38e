package hull

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hullbox/hull/internal/snapshot"
	"github.com/hullbox/hull/internal/store"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// Version is hull's version, sent as the User-Agent to registries.
const Version = "0.1.0-dev"

// Runtime is a handle on one state root. It is safe for concurrent use;
// several Runtimes, in one process or many, may share a root. Close it when
// done.
type Runtime struct {
	cfg   runtimeConfig
	store *store.Store
	snaps *snapshot.Store

	httpMu sync.Mutex
	http   *http.Client // made on first use: httpClient

	authCache auth.Cache

	ctrs   containerSet // containers this Runtime owns (container.go)
	events eventHub     // subscribers of Events (events.go)

	mu     sync.Mutex
	closed bool

	goInit bool // tests: every container gets the Go init, as without cgo (initproc.Compile)

	cgroupMount string // tests: containers' cgroups on this cgroup2 mount, not the host's (cgroups_linux.go)

	objs hostObjects // this root's entry in the host's registry of objects (hostobj_linux.go)
}

// Open opens (creating if needed) the state root and repairs what a crashed
// process left there: half-written blobs, half-unpacked layers and temp
// files are removed. The caller must Close the Runtime.
func Open(ctx context.Context, opts ...Option) (*Runtime, error) {
	cfg := runtimeConfig{
		root:     DefaultRoot,
		insecure: map[string]bool{},
		auth:     map[string]credential{},
		parallel: 4,
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := needCgo(); err != nil {
		return nil, err
	}
	root, err := filepath.Abs(cfg.root)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", cfg.root, err)
	}
	cfg.root = root
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	st, err := store.Open(filepath.Join(root, "content"))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	snaps, err := snapshot.Open(filepath.Join(root, "snapshots"))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	rt := &Runtime{cfg: cfg, store: st, snaps: snaps}
	rt.events.path = filepath.Join(root, eventsLogName)
	// Containers whose owner died: kill what is left, mark them exited;
	// release their network resources (recovery_linux.go).
	if err := rt.recover(); err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	rt.authCache = auth.NewCache()
	return rt, nil
}

// httpClient returns the Runtime's HTTP client for registries, made on
// first use: cloning a transport sets up HTTP/2, work a Runtime that
// never talks to a registry (`hull ps`) should not do.
func (rt *Runtime) httpClient() *http.Client {
	rt.httpMu.Lock()
	defer rt.httpMu.Unlock()
	if rt.http == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = 16
		transport.ResponseHeaderTimeout = 60 * time.Second
		rt.http = &http.Client{Transport: transport}
	}
	return rt.http
}

// Root returns the absolute path of the state root.
func (rt *Runtime) Root() string { return rt.cfg.root }

// Close releases the Runtime: it kills and removes the containers it owns.
// It is safe to call twice; calls on a closed Runtime return ErrClosed.
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return nil
	}
	rt.closed = true
	rt.mu.Unlock()
	rt.httpMu.Lock()
	if rt.http != nil {
		rt.http.CloseIdleConnections()
	}
	rt.httpMu.Unlock()
	defer rt.events.close()
	return rt.closeContainers(rt.closeNetworks)
}

// closedMeanwhile marks err, from a call that failed, with ErrClosed when
// the Runtime was closed while the call ran: the call's processes were
// killed, which is what err tells of.
func (rt *Runtime) closedMeanwhile(err error) error {
	if cerr := rt.checkOpen(); cerr != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

func (rt *Runtime) checkOpen() error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return ErrClosed
	}
	return nil
}
