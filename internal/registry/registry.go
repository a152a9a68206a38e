// Package registry is hull's side of the OCI distribution API, over
// oras-go: which host and scheme serve a registry name, which credentials
// go with a request, and the wire operations whose replies hull bounds and
// verifies itself (manifests and configs read into memory; blobs checked,
// mounted or uploaded). Registry replies stay the oras-go errors they are
// (wrapped); the hull package turns them into its *RegistryError.
package registry

import (
	"context"
	"net"
	"net/http"
	"strings"

	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// Host maps the registry name users write to the host serving the API:
// Docker Hub's names to registry-1.docker.io, others unchanged.
func Host(domain string) string {
	if domain == "docker.io" || domain == "index.docker.io" {
		return "registry-1.docker.io"
	}
	return domain
}

// LoginName reduces what users give `docker login` to a registry name:
// "host[:port]", Docker Hub's aliases (and nothing) as "docker.io"; false
// if it names no valid registry.
func LoginName(s string) (string, bool) {
	name := s
	for _, scheme := range []string{"https://", "http://"} {
		if rest, ok := strings.CutPrefix(name, scheme); ok {
			name = rest
			break
		}
	}
	name, _, _ = strings.Cut(name, "/")
	switch name {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io":
		return "docker.io", true
	}
	if err := (registry.Reference{Registry: name}).ValidateRegistry(); err != nil {
		return "", false
	}
	return name, true
}

// PlainHTTP reports whether the registry host ("host[:port]") is spoken to
// without TLS: when insecure names it (with or without its port), or it is
// localhost or a loopback address.
func PlainHTTP(host string, insecure map[string]bool) bool {
	if insecure[host] {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
		if insecure[h] {
			return true
		}
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// DockerStore opens docker's config.json at path, or, if path is empty,
// at $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
func DockerStore(path string, opts credentials.StoreOptions) (*credentials.DynamicStore, error) {
	if path != "" {
		return credentials.NewStore(path, opts)
	}
	return credentials.NewStoreFromDocker(opts)
}

// Client is what the requests of one hull Runtime share. The zero value
// is not usable: HTTP must be set.
type Client struct {
	HTTP      *http.Client
	UserAgent string
	Cache     auth.Cache      // tokens, shared by Repository's clients
	Insecure  map[string]bool // registries spoken to without TLS (PlainHTTP)
	// Static returns the credentials given for a registry name, if any:
	// they take precedence over docker's.
	Static func(name string) (auth.Credential, bool)
	// DockerConfig is the docker config.json to read credentials from
	// ("": the default, see DockerStore).
	DockerConfig string
}

// Repository returns a client for repository path of registry domain
// (as users write it: "docker.io"), authenticating with Static's
// credentials, else those of docker's config.json, else none. An invalid
// path fails with the error of registry.Reference.ValidateRepository.
func (c *Client) Repository(domain, path string) (*remote.Repository, error) {
	ref := registry.Reference{Registry: Host(domain), Repository: path}
	if err := ref.ValidateRepository(); err != nil {
		return nil, err
	}
	var docker credentials.Store
	if ds, err := DockerStore(c.DockerConfig, credentials.StoreOptions{}); err == nil {
		docker = ds
	}
	return &remote.Repository{
		Reference: ref,
		PlainHTTP: PlainHTTP(domain, c.Insecure),
		Client: &auth.Client{
			Client: c.HTTP,
			Header: c.header(),
			Cache:  c.Cache,
			Credential: func(ctx context.Context, hostport string) (auth.Credential, error) {
				return c.credential(ctx, docker, hostport)
			},
		},
		MaxMetadataBytes: MaxConfigSize,
	}, nil
}

// Registry returns a client for registry domain that sends no
// credentials of its own and caches tokens afresh: Login's, whose token
// obtained with credentials under test must serve nothing else.
func (c *Client) Registry(domain string) *remote.Registry {
	return &remote.Registry{RepositoryOptions: remote.RepositoryOptions{
		Reference: registry.Reference{Registry: Host(domain)},
		PlainHTTP: PlainHTTP(domain, c.Insecure),
		Client:    &auth.Client{Client: c.HTTP, Header: c.header(), Cache: auth.NewCache()},
	}}
}

func (c *Client) header() http.Header {
	if c.UserAgent == "" {
		return nil
	}
	return http.Header{"User-Agent": {c.UserAgent}}
}

// credential finds the credentials for hostport: Static's under any name
// of the registry (Docker Hub has several), else docker's.
func (c *Client) credential(ctx context.Context, docker credentials.Store, hostport string) (auth.Credential, error) {
	names := []string{hostport}
	if hostport == "registry-1.docker.io" {
		names = append(names, "docker.io", "index.docker.io", "https://index.docker.io/v1/")
	}
	if c.Static != nil {
		for _, n := range names {
			if cred, ok := c.Static(n); ok {
				return cred, nil
			}
		}
	}
	if docker == nil {
		return auth.EmptyCredential, nil
	}
	cred, err := credentials.Credential(docker)(ctx, hostport)
	if err != nil {
		// A broken helper must not stop anonymous pulls; the registry
		// answers 401 if credentials were needed.
		return auth.EmptyCredential, nil
	}
	return cred, nil
}
