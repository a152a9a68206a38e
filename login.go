package hull

import (
	"context"
	"fmt"
	"strings"

	"github.com/hullbox/hull/internal/registry"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// Login checks user and password against a registry ("host[:port]"; ""
// or "docker.io" for Docker Hub; a URL such as "https://host/v1/" is
// reduced to its host) and, if the registry accepts them, stores them as
// `docker login` does: in the docker config.json (WithDockerConfig's,
// else $DOCKER_CONFIG/config.json, else ~/.docker/config.json), through
// the credential helper or credsStore it names, else base64-encoded in
// its "auths" (Docker Hub under "https://index.docker.io/v1/"). Like
// docker, a config with no credentials yet gets the platform's credential
// store (pass, secretservice) when its helper is installed.
//
// Every Runtime using that config.json, in any process, then uses the
// credentials; WithAuth still takes precedence. Credentials the registry
// refuses return an error wrapping ErrUnauthorized (a *RegistryError) and
// nothing is stored.
func (rt *Runtime) Login(ctx context.Context, registryName, user, password string) error {
	if err := rt.checkOpen(); err != nil {
		return err
	}
	name, err := loginServer(registryName)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if user == "" || password == "" {
		return fmt.Errorf("login %s: %w: empty user name or password", name, ErrInvalidArgument)
	}
	if strings.Contains(user, ":") {
		return fmt.Errorf("login %s: %w: a user name cannot contain ':'", name, ErrInvalidArgument)
	}
	st, err := rt.dockerStore(credentials.StoreOptions{AllowPlaintextPut: true, DetectDefaultNativeStore: true})
	if err != nil {
		return fmt.Errorf("login %s: docker config: %w", name, err)
	}
	// A client of its own, with a fresh token cache: a token obtained
	// with these credentials must not serve later requests if they are
	// refused.
	reg := rt.registryClient().Registry(name)
	cred := auth.Credential{Username: user, Password: password}
	if err := credentials.Login(ctx, st, reg, cred); err != nil {
		return fmt.Errorf("login %s: %w", name, registryError(reg.Reference.Registry, err))
	}
	return nil
}

// Logout removes the credentials Login stored for a registry (named as for
// Login) from the docker config.json or its credential helper, like
// `docker logout`. If there are none it returns an error wrapping
// ErrNotFound (docker prints "Not logged in").
func (rt *Runtime) Logout(ctx context.Context, registryName string) error {
	if err := rt.checkOpen(); err != nil {
		return err
	}
	name, err := loginServer(registryName)
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	st, err := rt.dockerStore(credentials.StoreOptions{})
	if err != nil {
		return fmt.Errorf("logout %s: docker config: %w", name, err)
	}
	key := credentials.ServerAddressFromRegistry(name)
	cred, err := st.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("logout %s: %w", name, err)
	}
	if cred == auth.EmptyCredential {
		return fmt.Errorf("logout %s: not logged in: %w", name, ErrNotFound)
	}
	if err := credentials.Logout(ctx, st, name); err != nil {
		return fmt.Errorf("logout %s: %w", name, err)
	}
	return nil
}

// loginServer reduces what users give `docker login` to the registry name
// hull uses (registry.LoginName).
func loginServer(s string) (string, error) {
	name, ok := registry.LoginName(s)
	if !ok {
		return "", fmt.Errorf("%w: registry %q", ErrInvalidArgument, s)
	}
	return name, nil
}
