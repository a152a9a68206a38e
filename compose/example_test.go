package compose_test

import (
	"context"
	"fmt"

	"github.com/hullbox/hull/compose"
)

// Load a project with a profile enabled and list its services; Up, Down
// and the other actions then take the hull.Runtime to work on.
func ExampleLoad() {
	ctx := context.Background()
	p, err := compose.Load(ctx,
		compose.WithFiles("testdata/corpus/profiles/compose.yaml"),
		compose.WithProfiles("tools"),
		compose.WithEnvironment()) // not the process's: a reproducible result
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Name(), p.Services())
	// Output: profiles [admin app]
}

// Named stands for a project whose compose file is not at hand, as
// `docker compose -p NAME down` does: Down finds what is labelled with the
// name.
func ExampleNamed() {
	p := compose.Named("shop")
	fmt.Println(p.Name(), len(p.Services()))
	// Output: shop 0
}
