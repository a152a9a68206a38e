package hull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Limits on metadata read from registries: anything larger is hostile.
const (
	maxManifestSize = 4 << 20
	maxConfigSize   = 16 << 20
)

// registryHost maps the name users write to the host serving the API.
func registryHost(domain string) string {
	if domain == "docker.io" || domain == "index.docker.io" {
		return "registry-1.docker.io"
	}
	return domain
}

// plainHTTP reports whether a registry is spoken to without TLS.
func (rt *Runtime) plainHTTP(host string) bool {
	if rt.cfg.insecure[host] {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
		if rt.cfg.insecure[h] {
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

// repository returns a client for one repository, authenticating with
// WithAuth credentials, else docker's config.json.
func (rt *Runtime) repository(r Reference) (*remote.Repository, error) {
	host := registryHost(r.Domain)
	ref := registry.Reference{Registry: host, Repository: r.Path}
	if err := ref.ValidateRepository(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidReference, r, err)
	}
	var docker credentials.Store
	ds, err := rt.dockerCredentials()
	if err == nil {
		docker = ds
	}
	return &remote.Repository{
		Reference: ref,
		PlainHTTP: rt.plainHTTP(r.Domain),
		Client: &auth.Client{
			Client: rt.http,
			Header: map[string][]string{"User-Agent": {"hull/" + Version}},
			Cache:  rt.authCache,
			Credential: func(ctx context.Context, hostport string) (auth.Credential, error) {
				return rt.credential(ctx, docker, hostport)
			},
		},
		MaxMetadataBytes: maxConfigSize,
	}, nil
}

func (rt *Runtime) dockerCredentials() (credentials.Store, error) {
	ds, err := rt.dockerStore(credentials.StoreOptions{})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// dockerStore opens docker's config.json: WithDockerConfig's, else
// $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
func (rt *Runtime) dockerStore(opts credentials.StoreOptions) (*credentials.DynamicStore, error) {
	if rt.cfg.dockerConf != "" {
		return credentials.NewStore(rt.cfg.dockerConf, opts)
	}
	return credentials.NewStoreFromDocker(opts)
}

func (rt *Runtime) credential(ctx context.Context, docker credentials.Store, hostport string) (auth.Credential, error) {
	names := []string{hostport}
	if hostport == "registry-1.docker.io" {
		names = append(names, "docker.io", "index.docker.io", "https://index.docker.io/v1/")
	}
	for _, n := range names {
		if c, ok := rt.cfg.auth[n]; ok {
			return auth.Credential{Username: c.user, Password: c.password}, nil
		}
	}
	if docker == nil {
		return auth.EmptyCredential, nil
	}
	c, err := credentials.Credential(docker)(ctx, hostport)
	if err != nil {
		// A broken helper must not stop anonymous pulls; the registry
		// answers 401 if credentials were needed.
		return auth.EmptyCredential, nil
	}
	return c, nil
}

// registryError turns a client error into a hull error: replies become
// *RegistryError, missing content ErrNotFound.
func registryError(host string, err error) error {
	var er *errcode.ErrorResponse
	if errors.As(err, &er) {
		re := &RegistryError{Registry: host, StatusCode: er.StatusCode}
		if len(er.Errors) > 0 {
			re.Code = er.Errors[0].Code
			re.Message = er.Errors[0].Message
		}
		return re
	}
	if errors.Is(err, auth.ErrBasicCredentialNotFound) {
		return &RegistryError{Registry: host, StatusCode: 401, Code: "UNAUTHORIZED",
			Message: "the registry requires credentials and none are configured (hull.WithAuth or docker login)"}
	}
	if errors.Is(err, errdef.ErrNotFound) {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return err
}

// fetchManifest fetches a manifest or index by tag or digest, bounded in
// size, and checks its digest.
func fetchManifest(ctx context.Context, repo *remote.Repository, ref string, want digest.Digest) (ocispec.Descriptor, []byte, error) {
	desc, rc, err := repo.FetchReference(ctx, ref)
	if err != nil {
		return desc, nil, registryError(repo.Reference.Registry, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
	if err != nil {
		return desc, nil, fmt.Errorf("read manifest %s: %w", ref, err)
	}
	if len(data) > maxManifestSize {
		return desc, nil, fmt.Errorf("%w: manifest %s larger than %d bytes", ErrInvalidContent, ref, maxManifestSize)
	}
	got := digest.FromBytes(data)
	if want == "" {
		want = desc.Digest
	}
	if want != "" && got != want {
		return desc, nil, fmt.Errorf("%w: manifest %s: content hashes to %s, registry said %s", ErrInvalidContent, ref, got, want)
	}
	desc.Digest, desc.Size = got, int64(len(data))
	return desc, data, nil
}

// fetchSmallBlob fetches a blob (a config) into memory, bounded and verified.
func fetchSmallBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, max int64) ([]byte, error) {
	if desc.Size > max || desc.Size < 0 {
		return nil, fmt.Errorf("%w: blob %s: size %d out of bounds", ErrInvalidContent, desc.Digest, desc.Size)
	}
	rc, err := repo.Fetch(ctx, desc)
	if err != nil {
		return nil, registryError(repo.Reference.Registry, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, desc.Size+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", desc.Digest, err)
	}
	if int64(len(data)) != desc.Size || digest.FromBytes(data) != desc.Digest {
		return nil, fmt.Errorf("%w: blob %s: content does not match its digest", ErrInvalidContent, desc.Digest)
	}
	return data, nil
}
