package hull_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/hullbox/hull"
)

func ExampleParseReference() {
	for _, s := range []string{"redis", "redis:7", "localhost:5000/team/app:v2"} {
		r, err := hull.ParseReference(s)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(r.String(), "=", r.Familiar())
	}
	_, err := hull.ParseReference("Not A Reference")
	fmt.Println(errors.Is(err, hull.ErrInvalidReference))
	// Output:
	// docker.io/library/redis:latest = redis:latest
	// docker.io/library/redis:7 = redis:7
	// localhost:5000/team/app:v2 = localhost:5000/team/app:v2
	// true
}

func ExampleRuntime_Pull() {
	ctx := context.Background()
	rt, err := hull.Open(ctx, hull.WithRoot("/var/lib/hull"))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	img, err := rt.Pull(ctx, "localhost:5000/app:1", hull.WithProgress(func(p hull.Progress) {
		if p.Status != "Downloading" {
			fmt.Println(p.ID, p.Status)
		}
	}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.ID(), img.RepoTags(), img.Config().Cmd)
}

func ExampleRuntime_Import() {
	ctx := context.Background()
	rt, err := hull.Open(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	f, err := os.Open("rootfs.tar.gz") // e.g. from `docker export`
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	img, err := rt.Import(ctx, f, "mybase:1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.ID())
}

func ExampleRuntime_RemoveImage() {
	ctx := context.Background()
	rt, err := hull.Open(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	rep, err := rt.RemoveImage(ctx, "app:old")
	switch {
	case errors.Is(err, hull.ErrConflict):
		fmt.Println("a container still uses it")
	case errors.Is(err, hull.ErrNotFound):
		fmt.Println("no such image")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("untagged", rep.Untagged, "deleted", rep.Deleted)
	}
}
