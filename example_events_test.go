package hull_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/hullbox/hull"
)

// Events follows what every process on the root does, as docker events;
// here the life of one container.
func ExampleRuntime_Events() {
	ctx := context.Background()
	root, done := exampleRoot() // a fresh state root holding the image "busybox"
	defer done()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := rt.Events(ectx, hull.WithEventsFilter("container", "job"))
	if err != nil {
		log.Fatal(err)
	}

	c, err := rt.Run(ctx, "busybox", hull.WithName("job"), hull.WithCmd("sh", "-c", "exit 2"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	if err := c.Remove(ctx); err != nil {
		log.Fatal(err)
	}
	for ev := range events {
		line := fmt.Sprint(ev.Type, " ", ev.Action, " ", ev.Name, " image=", ev.Attributes["image"])
		if code, ok := ev.Attributes["exitCode"]; ok {
			line += " exitCode=" + code
		}
		fmt.Println(line)
		if ev.Action == "destroy" {
			break
		}
	}
	// Output:
	// container create job image=busybox
	// container start job image=busybox
	// container die job image=busybox exitCode=2
	// container destroy job image=busybox
}

// Containers lists the containers of the root, those of other processes
// too, filtered like docker ps.
func ExampleRuntime_Containers() {
	ctx := context.Background()
	root, done := exampleRoot()
	defer done()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	for _, name := range []string{"api-1", "api-2", "worker"} {
		role := map[bool]string{true: "api", false: "worker"}[name != "worker"]
		c, err := rt.Run(ctx, "busybox", hull.WithName(name), hull.WithCmd("sleep", "60"),
			hull.WithLabels(map[string]string{"role": role}))
		if err != nil {
			log.Fatal(err)
		}
		defer c.Remove(ctx, hull.WithForce())
	}
	worker, err := rt.Container(ctx, "worker") // by name, ID or ID prefix
	if err != nil {
		log.Fatal(err)
	}
	if err := worker.Stop(ctx, 0); err != nil {
		log.Fatal(err)
	}

	list := func(opts ...hull.ContainersOption) {
		cs, err := rt.Containers(ctx, opts...) // newest first
		if err != nil {
			log.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			in, err := c.Inspect(ctx)
			if err != nil {
				log.Fatal(err)
			}
			out = append(out, c.Name()+" "+string(in.State.Status))
		}
		fmt.Println(strings.Join(out, ", "))
	}
	list() // running ones, as docker ps
	list(hull.WithAllContainers())
	list(hull.WithFilterLabel("role", "api"), hull.WithFilterStatus(hull.StatusRunning))
	// Output:
	// api-2 running, api-1 running
	// worker exited, api-2 running, api-1 running
	// api-2 running, api-1 running
}
