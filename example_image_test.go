package hull_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/hullbox/hull"
)

// A volume outlives the containers that use it; another container sees
// what the first one wrote.
func ExampleVolume() {
	ctx := context.Background()
	root, done := exampleRoot() // a fresh state root holding the image "busybox"
	defer done()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	vol, err := rt.CreateVolume(ctx, "data")
	if err != nil {
		log.Fatal(err)
	}
	for _, cmd := range []string{"echo written once > /data/note", "cat /data/note"} {
		c, err := rt.Run(ctx, "busybox", hull.WithVolume(vol, "/data"),
			hull.WithCmd("sh", "-c", cmd), hull.WithStdout(os.Stdout))
		if err != nil {
			log.Fatal(err)
		}
		if _, err := c.Wait(ctx); err != nil {
			log.Fatal(err)
		}
		if err := c.Remove(ctx); err != nil {
			log.Fatal(err)
		}
	}
	note, err := os.ReadFile(vol.Mountpoint() + "/note") // <root>/volumes/data/_data
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("on the host: %s", note)
	if err := vol.Remove(ctx); err != nil { // ErrConflict while a container uses it
		log.Fatal(err)
	}
	// Output:
	// written once
	// on the host: written once
}

// Commit makes an image of a container's changes (volumes excepted), with
// the container's configuration changed by options, like docker commit.
func ExampleContainer_Commit() {
	ctx := context.Background()
	root, done := exampleRoot()
	defer done()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	c, err := rt.Run(ctx, "busybox", hull.WithCmd("sh", "-c", "echo 'hello, committed' > /etc/motd"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Remove(ctx)
	if _, err := c.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	changes, err := c.Diff(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, ch := range changes {
		fmt.Println(ch.Kind, ch.Path)
	}

	img, err := c.Commit(ctx, "motd:1",
		hull.WithCommitCmd("cat", "/etc/motd"), hull.WithCommitLabels(map[string]string{"stage": "demo"}))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.RemoveImage(ctx, "motd:1")
	fmt.Println(img.RepoTags(), len(img.Layers()), img.Config().Cmd, img.Config().Labels)

	out, err := rt.Run(ctx, "motd:1", hull.WithStdout(os.Stdout))
	if err != nil {
		log.Fatal(err)
	}
	defer out.Remove(ctx)
	if _, err := out.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// C /etc
	// A /etc/motd
	// [motd:1] 2 [cat /etc/motd] map[stage:demo]
	// hello, committed
}

// Push sends an image to a registry; Pull, here into another root as on
// another machine, gets the same image back (same ID).
func ExampleRuntime_Push() {
	ctx := context.Background()
	registry, stop := exampleRegistry() // "127.0.0.1:PORT": an in-process registry
	defer stop()
	root, done := exampleRoot()
	defer done()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	ref := registry + "/tools/busybox:1"
	if err := rt.Tag(ctx, "busybox", ref); err != nil {
		log.Fatal(err)
	}
	pushed := 0
	if err := rt.Push(ctx, ref, hull.WithProgress(func(p hull.Progress) {
		if p.Status == "Pushed" {
			pushed++ // a layer uploaded
		}
	})); err != nil {
		log.Fatal(err)
	}
	tags, err := rt.RemoteTags(ctx, registry+"/tools/busybox")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pushed", pushed, "layer; tags", tags)

	other, err := os.MkdirTemp("", "hull-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(other)
	rt2, err := hull.Open(ctx, hull.WithRoot(other))
	if err != nil {
		log.Fatal(err)
	}
	defer rt2.Close()
	pulled, err := rt2.Pull(ctx, ref)
	if err != nil {
		log.Fatal(err)
	}
	local, err := rt.Image(ctx, "busybox")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same image:", pulled.ID() == local.ID(), strings.HasPrefix(pulled.RepoDigests()[0], registry))
	// Output:
	// pushed 1 layer; tags [1]
	// same image: true true
}

// Tag gives an image another name; every tag keeps its history, so a
// tag moved to a new image can be moved back.
func ExampleRuntime_TagHistory() {
	ctx := context.Background()
	root, done := exampleRoot()
	defer done()
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	c, err := rt.Run(ctx, "busybox", hull.WithCmd("touch", "/v2"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Remove(ctx)
	if _, err := c.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	v1, err := rt.Image(ctx, "busybox")
	if err != nil {
		log.Fatal(err)
	}
	v2, err := c.Commit(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range []string{v1.ID(), v2.ID(), v1.ID()} { // release v1, v2, roll back
		if err := rt.Tag(ctx, id, "app:stable"); err != nil {
			log.Fatal(err)
		}
	}
	hist, err := rt.TagHistory(ctx, "app:stable")
	if err != nil {
		log.Fatal(err)
	}
	name := map[string]string{string(v1.Digest()): "v1", string(v2.Digest()): "v2"}
	for _, h := range hist {
		fmt.Print(name[string(h.Digest)], " ")
	}
	fmt.Println("(oldest first)")
	// Output:
	// v1 v2 v1 (oldest first)
}
