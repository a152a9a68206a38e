package hull_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/hullbox/hull"
)

func ExampleRuntime_Save() {
	ctx := context.Background()
	rt, err := hull.Open(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	f, err := os.Create("images.tar") // for `docker load`, skopeo or Runtime.Load
	if err != nil {
		log.Fatal(err)
	}
	if err := rt.Save(ctx, f, "redis:7", "localhost:5000/app"); err != nil {
		f.Close()
		os.Remove("images.tar") // a partial archive is of no use
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

func ExampleRuntime_Load() {
	ctx := context.Background()
	rt, err := hull.Open(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	f, err := os.Open("images.tar") // from `docker save`, skopeo or Runtime.Save
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	imgs, err := rt.Load(ctx, f)
	if err != nil {
		log.Fatal(err)
	}
	for _, img := range imgs {
		for _, tag := range img.RepoTags() {
			fmt.Println("Loaded image:", tag)
		}
		if len(img.RepoTags()) == 0 {
			fmt.Println("Loaded image ID:", img.ID())
		}
	}
}
