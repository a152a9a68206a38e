package hull

import (
	"errors"
	"fmt"

	"github.com/hullbox/hull/internal/registry"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Limits on metadata read from registries and archives: anything larger is
// hostile.
const (
	maxManifestSize = registry.MaxManifestSize
	maxConfigSize   = registry.MaxConfigSize
)

// registryClient is what the Runtime's registry requests share: its HTTP
// client and token cache, WithInsecureRegistry, WithAuth and
// WithDockerConfig.
func (rt *Runtime) registryClient() *registry.Client {
	return &registry.Client{
		HTTP: rt.httpClient(), UserAgent: "hull/" + Version, Cache: rt.authCache, Insecure: rt.cfg.insecure,
		Static: func(name string) (auth.Credential, bool) {
			c, ok := rt.cfg.auth[name]
			return auth.Credential{Username: c.user, Password: c.password}, ok
		},
		DockerConfig: rt.cfg.dockerConf,
	}
}

// repository returns a client for one repository, authenticating with
// WithAuth credentials, else docker's config.json.
func (rt *Runtime) repository(r Reference) (*remote.Repository, error) {
	repo, err := rt.registryClient().Repository(r.Domain, r.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidReference, r, err)
	}
	return repo, nil
}

// dockerStore opens docker's config.json: WithDockerConfig's, else
// $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
func (rt *Runtime) dockerStore(opts credentials.StoreOptions) (*credentials.DynamicStore, error) {
	return registry.DockerStore(rt.cfg.dockerConf, opts)
}

// registryError turns a client error into a hull error: replies become
// *RegistryError, missing content ErrNotFound, content that does not
// verify ErrInvalidContent.
func registryError(host string, err error) error {
	if errors.Is(err, registry.ErrInvalidContent) {
		return alsoIs(err, registry.ErrInvalidContent, ErrInvalidContent)
	}
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
