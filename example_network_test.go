package hull_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"maps"
	"slices"
	"strings"

	"github.com/hullbox/hull"
)

// Containers on a user-defined network find each other by name and alias
// through hull's DNS server; a network is found again by name from any
// process on the root.
func ExampleRuntime_CreateNetwork() {
	ctx := context.Background()
	root, done := exampleRoot() // a fresh state root holding the image "busybox"
	defer done()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	backend, err := rt.CreateNetwork(ctx, "backend", hull.WithSubnet("10.123.0.0/24"))
	if err != nil {
		log.Fatal(err)
	}
	defer backend.Remove(ctx)

	web, err := rt.Run(ctx, "busybox", hull.WithName("web"),
		hull.WithNetwork(backend, hull.WithAlias("www"), hull.WithIP("10.123.0.10")),
		hull.WithCmd("sh", "-c", "mkdir /www && echo pong > /www/index.html && exec httpd -f -p 80 -h /www"))
	if err != nil {
		log.Fatal(err)
	}
	defer web.Remove(ctx, hull.WithForce())

	same, err := rt.Network(ctx, "backend") // by name, ID or ID prefix
	if err != nil {
		log.Fatal(err)
	}
	var out bytes.Buffer
	client, err := rt.Run(ctx, "busybox", hull.WithNetwork(same), hull.WithStdout(&out),
		hull.WithCmd("sh", "-c", "until wget -qO- http://www/ 2>/dev/null; do sleep 0.05; done; wget -qO- http://web/"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Remove(ctx)
	if _, err := client.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	in, err := web.Inspect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(same.ID() == backend.ID(), in.NetworkSettings.Networks["backend"].IPAddress)
	fmt.Print(out.String())
	// Output:
	// true 10.123.0.10
	// pong
	// pong
}

// Connect attaches a running container to one more network, as docker
// network connect; Disconnect takes it off.
func ExampleNetwork_Connect() {
	ctx := context.Background()
	root, done := exampleRoot()
	defer done()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	front, err := rt.CreateNetwork(ctx, "front")
	if err != nil {
		log.Fatal(err)
	}
	defer front.Remove(ctx)
	back, err := rt.CreateNetwork(ctx, "back", hull.WithInternal()) // no way out of the host
	if err != nil {
		log.Fatal(err)
	}
	defer back.Remove(ctx)

	c, err := rt.Run(ctx, "busybox", hull.WithNetwork(front), hull.WithCmd("sleep", "60"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Remove(ctx, hull.WithForce())
	networks := func() []string {
		in, err := c.Inspect(ctx)
		if err != nil {
			log.Fatal(err)
		}
		return slices.Sorted(maps.Keys(in.NetworkSettings.Networks))
	}

	if err := back.Connect(ctx, c, hull.WithAlias("api")); err != nil {
		log.Fatal(err)
	}
	fmt.Println(networks())
	var out bytes.Buffer
	if _, err := c.Exec(ctx, []string{"ls", "/sys/class/net"}, hull.WithExecStdout(&out)); err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.Fields(out.String()))
	if err := front.Disconnect(ctx, c); err != nil {
		log.Fatal(err)
	}
	fmt.Println(networks())
	// Output:
	// [back front]
	// [eth0 eth1 lo]
	// [back]
}
