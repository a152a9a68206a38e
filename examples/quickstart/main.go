// Command quickstart shows hull's image API end to end on a machine with
// no network: it builds a root filesystem tar from the host's static
// busybox (Debian's busybox-static), imports it as an image, looks it up,
// tags it and prints what `docker image inspect` would.
//
//	sudo apt-get install -y busybox-static
//	sudo go run ./examples/quickstart
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"

	"github.com/hullbox/hull"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func main() {
	ctx := context.Background()
	root, err := os.MkdirTemp("", "hull-quickstart-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	rootfs, err := busyboxRootfs()
	if err != nil {
		log.Fatal(err)
	}
	img, err := rt.Import(ctx, rootfs, "quickstart/busybox:1",
		hull.WithImportConfig(ocispec.ImageConfig{Cmd: []string{"sh"}}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("imported %s (%d bytes unpacked)\n", img.ID(), img.Size())

	if err := rt.Tag(ctx, "quickstart/busybox:1", "quickstart/busybox:latest"); err != nil {
		log.Fatal(err)
	}
	img, err = rt.Image(ctx, "quickstart/busybox") // :latest
	if err != nil {
		log.Fatal(err)
	}
	in, err := img.Inspect(ctx)
	if err != nil {
		log.Fatal(err)
	}
	out, _ := json.MarshalIndent(in, "", "    ")
	fmt.Println(string(out))
}

// busyboxRootfs makes a minimal root filesystem tar: busybox and a shell.
func busyboxRootfs() (*bytes.Reader, error) {
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, fmt.Errorf("%w (apt-get install busybox-static)", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "etc/", "tmp/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin))})
	tw.Write(bin)
	tw.WriteHeader(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return bytes.NewReader(buf.Bytes()), nil
}
