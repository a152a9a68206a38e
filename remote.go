package hull

import (
	"context"
	"fmt"
	"slices"

	"github.com/hullbox/hull/internal/imageref"
)

// RemoteTags lists the tags of a repository in its registry ("localhost:5000/app",
// "redis" for docker.io/library/redis), sorted, like `skopeo list-tags`.
// The name must not carry a tag or digest. It uses the credentials Pull
// uses. Errors wrap ErrInvalidReference, ErrNotFound (no such repository)
// or ErrUnauthorized (a *RegistryError).
func (rt *Runtime) RemoteTags(ctx context.Context, repo string) ([]string, error) {
	if err := rt.checkOpen(); err != nil {
		return nil, err
	}
	r, err := ParseReference(repo)
	if err != nil {
		return nil, fmt.Errorf("remote tags: %w", err)
	}
	if named, err := imageref.ParseNormalized(repo); err != nil || !named.NameOnly() {
		return nil, fmt.Errorf("remote tags: %w: %q: want a repository name without tag or digest", ErrInvalidReference, repo)
	}
	client, err := rt.repository(r)
	if err != nil {
		return nil, fmt.Errorf("remote tags %s: %w", r.Name(), err)
	}
	var tags []string
	err = client.Tags(ctx, "", func(page []string) error {
		tags = append(tags, page...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("remote tags %s: %w", familiarName(r.Name()), registryError(client.Reference.Registry, err))
	}
	slices.Sort(tags)
	return slices.Compact(tags), nil
}
