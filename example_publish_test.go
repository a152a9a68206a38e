package hull_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/hullbox/hull"
)

// A web server published on the host's loopback on a port hull picks;
// Inspect tells which.
func ExampleWithPublish() {
	ctx := context.Background()
	rt, err := hull.Open(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	c, err := rt.Run(ctx, "docker.io/library/nginx:alpine", hull.WithPublish("127.0.0.1::80"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Remove(ctx, hull.WithForce())
	in, err := c.Inspect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range in.NetworkSettings.Ports {
		fmt.Println(p) // e.g. 80/tcp -> 127.0.0.1:49153
		resp, err := http.Get(fmt.Sprintf("http://%s:%d/", p.HostIP, p.HostPort))
		if err == nil {
			fmt.Println(resp.Status)
			resp.Body.Close()
		}
	}

	// Specs are checked before anything is created.
	_, err = rt.Run(ctx, "docker.io/library/nginx:alpine", hull.WithPublish("80/sctp"))
	fmt.Println(errors.Is(err, hull.ErrInvalidArgument))
}
