package testutil

import (
	"archive/tar"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Paths in BenchImage that benchmarks and their checks can rely on.
const (
	// BenchDeleted is a file of layer 1 that layer 5 whites out.
	BenchDeleted = "data/d00/s0/f00.bin"
	// BenchSymlink is a symlink added by layer 5, pointing at BenchTarget.
	BenchSymlink = "data/latest"
	// BenchTarget is the file of layer 1 BenchSymlink points at.
	BenchTarget = "data/d01/s1/f01.bin"
)

// Shape of BenchImage.
const (
	benchDirs        = 20 // data/dNN
	benchSubdirs     = 5  // data/dNN/sM
	benchFilesPerDir = 20 // 20*5*20 = 2000 small files
	benchBigFiles    = 3  // per big layer
	benchBigSize     = 10 << 20
)

// benchCache holds one *benchEntry per seed: the files and the already
// compressed blobs, so that benchmarks build each image once per process.
var benchCache sync.Map

type benchEntry struct {
	once sync.Once
	img  Image
	err  error
}

// BenchImage returns a deterministic image of about 100 MB for benchmarks,
// in 5 gzip layers:
//
//  1. 2000 files of 1-8 KiB under data/dNN/sM/ (random bytes);
//  2. to 4. three 10 MiB random files each, under big/N/;
//  5. a whiteout of BenchDeleted and the symlink BenchSymlink.
//
// The same seed gives the same bytes. Random content does not compress, so
// blobs are about as large as the tars. Layers are built (gzip BestSpeed)
// once per seed and process and the result is cached: Push then only uploads.
// The returned Image shares its files and blobs with the cache: treat them as
// read-only. Changing a layer's Compression makes Push rebuild that layer.
//
// Push it to a registry started WithDiskStorage: the default in-memory
// storage takes about 15 s to accept it, the disk about 0.5 s.
func BenchImage(tb testing.TB, seed int64) Image {
	tb.Helper()
	v, _ := benchCache.LoadOrStore(seed, &benchEntry{})
	e := v.(*benchEntry)
	e.once.Do(func() { e.img, e.err = buildBench(seed) })
	if e.err != nil {
		tb.Fatalf("bench image %d: %v", seed, e.err)
	}
	img := e.img
	img.Layers = slices.Clone(img.Layers)
	img.Config.Env = slices.Clone(img.Config.Env)
	img.Config.Cmd = slices.Clone(img.Config.Cmd)
	return img
}

// benchRand returns the random stream of one layer of one seed, so that
// layers can be made in parallel and still be deterministic.
func benchRand(seed int64, layer int) *rand.ChaCha8 {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], uint64(seed))
	binary.LittleEndian.PutUint64(key[8:], uint64(layer))
	copy(key[16:], "hull-bench-image")
	return rand.NewChaCha8(key)
}

func buildBench(seed int64) (Image, error) {
	layers := []Layer{
		{Files: benchSmallFiles(benchRand(seed, 1))},
		{Files: benchBigLayer(benchRand(seed, 2), 2)},
		{Files: benchBigLayer(benchRand(seed, 3), 3)},
		{Files: benchBigLayer(benchRand(seed, 4), 4)},
		{Files: benchTopLayer()},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(layers))
	for i := range layers {
		layers[i].Compression = Gzip
		wg.Go(func() {
			layers[i].built, errs[i] = buildLayer(layers[i], gzip.BestSpeed)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return Image{}, fmt.Errorf("layer %d: %w", i+1, err)
		}
	}
	return Image{
		Layers: layers,
		Config: ocispec.ImageConfig{
			Cmd: []string{"/bin/sh"},
			Env: []string{DefaultPath},
		},
	}, nil
}

func benchDir(name string) File {
	return File{Name: name, Type: tar.TypeDir, Mode: 0o755}
}

func benchSmallFiles(r *rand.ChaCha8) []File {
	rng := rand.New(r)
	n := benchDirs * benchSubdirs * benchFilesPerDir
	sizes := make([]int, n)
	total := 0
	for i := range sizes {
		sizes[i] = 1024 + rng.IntN(7*1024+1)
		total += sizes[i]
	}
	data := make([]byte, total)
	_, _ = r.Read(data) // never fails
	files := []File{benchDir("data/")}
	k := 0
	for d := range benchDirs {
		files = append(files, benchDir(fmt.Sprintf("data/d%02d/", d)))
		for s := range benchSubdirs {
			files = append(files, benchDir(fmt.Sprintf("data/d%02d/s%d/", d, s)))
			for f := range benchFilesPerDir {
				files = append(files, File{
					Name: fmt.Sprintf("data/d%02d/s%d/f%02d.bin", d, s, f),
					Body: data[:sizes[k]:sizes[k]],
				})
				data = data[sizes[k]:]
				k++
			}
		}
	}
	return files
}

func benchBigLayer(r *rand.ChaCha8, layer int) []File {
	dir := fmt.Sprintf("big/%d/", layer)
	files := []File{benchDir("big/"), benchDir(dir)}
	for i := range benchBigFiles {
		body := make([]byte, benchBigSize)
		_, _ = r.Read(body)
		files = append(files, File{Name: fmt.Sprintf("%sfile%d.bin", dir, i), Body: body})
	}
	return files
}

func benchTopLayer() []File {
	return []File{
		benchDir("data/"),
		benchDir("data/d00/"),
		benchDir("data/d00/s0/"),
		{Name: "data/d00/s0/.wh.f00.bin"},
		{Name: BenchSymlink, Type: tar.TypeSymlink, Linkname: "d01/s1/f01.bin"},
	}
}
