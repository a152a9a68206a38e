package hull_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/hullbox/hull"
)

// A build FROM scratch, so that it needs no base image and runs no
// container: COPY writes its layer from the context. The progress
// callback sees one event per step; the second build finds the COPY in
// the cache and gives the same image.
func ExampleRuntime_Build() {
	ctx := context.Background()
	root, err := os.MkdirTemp("", "hull-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	rt, err := hull.Open(ctx, hull.WithRoot(filepath.Join(root, "state")))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	app := filepath.Join(root, "app")
	os.MkdirAll(app, 0o755)
	os.WriteFile(filepath.Join(app, "hello.txt"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(app, "Dockerfile"), []byte("FROM scratch\nCOPY hello.txt /\nCMD [\"/hello.txt\"]\n"), 0o644)

	progress := hull.WithBuildProgress(func(e hull.BuildEvent) {
		if e.Kind != hull.BuildStepOutput {
			fmt.Printf("step %d/%d %s: %s\n", e.Step, e.Steps, e.Kind, e.Instruction)
		}
	})
	img, err := rt.Build(ctx, app, hull.WithTags("hello:1"), progress)
	if err != nil {
		log.Fatal(err)
	}
	again, err := rt.Build(ctx, app, progress)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.RepoTags(), img.Config().Cmd, again.ID() == img.ID())
	// Output:
	// step 1/3 started: FROM scratch
	// step 1/3 done: FROM scratch
	// step 2/3 started: COPY hello.txt /
	// step 2/3 done: COPY hello.txt /
	// step 3/3 done: CMD ["/hello.txt"]
	// step 1/3 started: FROM scratch
	// step 1/3 done: FROM scratch
	// step 2/3 cached: COPY hello.txt /
	// step 3/3 done: CMD ["/hello.txt"]
	// [hello:1] [/hello.txt] true
}
