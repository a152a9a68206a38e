//go:build linux

package hull_test

import (
	"context"
	"log"
	"os"

	"github.com/hullbox/hull"
)

// A named volume outlives its containers; Export and ImportVolume back it
// up and restore it.
func ExampleRuntime_CreateVolume() {
	ctx := context.Background()
	rt, err := hull.Open(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	vol, err := rt.CreateVolume(ctx, "pgdata", hull.WithVolumeLabels(map[string]string{"app": "db"}))
	if err != nil {
		log.Fatal(err)
	}
	c, err := rt.Run(ctx, "postgres:16",
		hull.WithVolume(vol, "/var/lib/postgresql/data"), // filled from the image while empty
		hull.WithBind("/etc/ssl/certs", "/etc/ssl/certs", hull.WithReadOnly()),
		hull.WithTmpfs("/run/postgresql", "size=16m"))
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Stop(ctx, -1); err != nil {
		log.Fatal(err)
	}

	backup, err := os.Create("pgdata.tar")
	if err != nil {
		log.Fatal(err)
	}
	defer backup.Close()
	if err := vol.Export(ctx, backup); err != nil { // ErrConflict while c runs
		log.Fatal(err)
	}
	if _, err := backup.Seek(0, 0); err != nil {
		log.Fatal(err)
	}
	if _, err := rt.ImportVolume(ctx, "pgdata-restored", backup); err != nil {
		log.Fatal(err)
	}
	// c still uses vol: remove c (and its anonymous volumes) first.
	if err := c.Remove(ctx, hull.WithRemoveVolumes()); err != nil {
		log.Fatal(err)
	}
	if err := vol.Remove(ctx); err != nil {
		log.Fatal(err)
	}
}
