// Package testutil holds helpers for hull's own tests and benchmarks: an
// in-process registry served over loopback, and images built in memory from
// files on the machine and pushed to it. Nothing here reaches the network
// beyond 127.0.0.1.
package testutil

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	// Registered by init: the htpasswd access controller and the storage
	// drivers that StartRegistry configures by name.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// RegistryOption configures StartRegistry.
type RegistryOption func(*registryConfig)

type registryConfig struct {
	user, password string
	token          bool // bearer tokens (WithTokenAuth) rather than basic auth
	middleware     []func(http.Handler) http.Handler
	onDisk         bool
}

// WithBasicAuth makes the registry demand HTTP basic auth for every request,
// checked by distribution's htpasswd access controller against a bcrypt
// htpasswd file written to t.TempDir(). Default: no auth. Of WithBasicAuth
// and WithTokenAuth, the last one given wins.
func WithBasicAuth(user, password string) RegistryOption {
	return func(c *registryConfig) { c.user, c.password, c.token = user, password, false }
}

// WithDiskStorage keeps the registry's content in files under t.TempDir()
// (distribution's filesystem driver) instead of in memory. Use it for big
// images such as BenchImage: distribution's inmemory driver copies its whole
// write buffer on every write, so pushing a blob of n bytes costs O(n²)
// (about 15 s for BenchImage's 100 MB). Default: in memory.
func WithDiskStorage() RegistryOption {
	return func(c *registryConfig) { c.onDisk = true }
}

// WithMiddleware wraps the registry handler with mw, e.g. CutAfter or the
// middleware returned by CountRequests. It may be given several times: the
// first one given is the outermost and sees every request first.
// Default: none.
func WithMiddleware(mw func(http.Handler) http.Handler) RegistryOption {
	return func(c *registryConfig) { c.middleware = append(c.middleware, mw) }
}

// Registry is a distribution registry with in-memory storage, served over
// plain HTTP on a random port of 127.0.0.1. It is closed by the Cleanup of the
// test that started it.
type Registry struct {
	// Host is "127.0.0.1:PORT", the registry part of image references.
	Host string
	// URL is "http://127.0.0.1:PORT".
	URL string
	// Username and Password are the credentials given to WithBasicAuth or
	// WithTokenAuth, or empty when the registry needs none.
	Username, Password string
	// TokenRealm is the URL of the token server of a registry started
	// WithTokenAuth, else empty.
	TokenRealm string
}

// RegistryGoroutine is the top function of the one goroutine each
// StartRegistry leaves behind: distribution's App starts an event broadcaster
// and offers no way to stop it. Leak checkers (goleak.IgnoreTopFunction)
// should ignore it.
const RegistryGoroutine = "github.com/docker/go-events.(*Broadcaster).run"

// StartRegistry starts an in-process registry for the duration of t.
// Its logs are discarded unless the test runs with -v.
//
// The registry runs distribution's handlers.NewApp with the inmemory storage
// driver, no redis, no notifications, upload purging off and a fixed HTTP
// secret, so it needs nothing beyond loopback.
func StartRegistry(t testing.TB, opts ...RegistryOption) *Registry {
	t.Helper()
	var cfg registryConfig
	for _, o := range opts {
		o(&cfg)
	}
	if !testing.Verbose() {
		// distribution logs through logrus' standard logger; its context key
		// is internal, so the global logger is the only switch there is.
		logrus.SetOutput(io.Discard)
	}

	conf := &configuration.Configuration{
		Storage: configuration.Storage{
			"inmemory": configuration.Parameters{},
			"delete":   configuration.Parameters{"enabled": true},
			// Must be map[any]any: NewApp type-asserts exactly that and
			// panics on anything else. Off, else each app starts a purger.
			"maintenance": configuration.Parameters{
				"uploadpurging": map[any]any{"enabled": false},
			},
		},
	}
	if cfg.onDisk {
		delete(conf.Storage, "inmemory")
		conf.Storage["filesystem"] = configuration.Parameters{"rootdirectory": t.TempDir()}
	}
	conf.HTTP.Secret = "hull-testutil-secret"
	var realm string
	if cfg.token {
		conf.Auth, realm = startTokenServer(t, cfg.user, cfg.password)
	} else if cfg.user != "" {
		path := writeHtpasswd(t, cfg.user, cfg.password)
		conf.Auth = configuration.Auth{"htpasswd": configuration.Parameters{
			"realm": "hull-test",
			"path":  path,
		}}
	}

	app := handlers.NewApp(context.Background(), conf)
	var h http.Handler = app
	for i := len(cfg.middleware) - 1; i >= 0; i-- {
		h = cfg.middleware[i](h)
	}
	srv := httptest.NewUnstartedServer(h)
	if !testing.Verbose() {
		// CutAfter hijacks connections mid-response; net/http complains.
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	}
	srv.Start() // httptest listens on 127.0.0.1:0
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		_ = app.Shutdown()
	})
	host := srv.Listener.Addr().String()
	return &Registry{Host: host, URL: srv.URL, Username: cfg.user, Password: cfg.password, TokenRealm: realm}
}

func writeHtpasswd(t testing.TB, user, password string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatalf("bcrypt: %v", err)
	}
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatalf("write htpasswd: %v", err)
	}
	return path
}

// Client returns an oras auth client for the registry, with its credentials
// when it has any. Requests are not retried, so injected failures surface.
func (r *Registry) Client() *auth.Client {
	c := &auth.Client{Client: &http.Client{}, Cache: auth.NewCache()}
	if r.Username != "" {
		c.Credential = auth.StaticCredential(r.Host, auth.Credential{
			Username: r.Username,
			Password: r.Password,
		})
	}
	return c
}

// Repository returns an oras client for repository name ("test/busybox")
// on the registry, over plain HTTP with the registry's credentials.
func (r *Registry) Repository(t testing.TB, name string) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(r.Host + "/" + name)
	if err != nil {
		t.Fatalf("repository %q: %v", name, err)
	}
	repo.PlainHTTP = true
	repo.Client = r.Client()
	return repo
}
