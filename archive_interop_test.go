//go:build linux

package hull

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hullbox/hull/internal/imagearchive"
	"github.com/hullbox/hull/internal/manifest"
	"github.com/hullbox/hull/internal/testutil"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// skopeo runs skopeo (skipping the test if it is missing) without a
// signature policy, and returns its standard output.
func skopeo(t *testing.T, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("skopeo not installed: apt-get install skopeo")
	}
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"--insecure-policy"}, args...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// interopImages are the images the skopeo tests send both ways.
func interopImages(t *testing.T) map[string]testutil.Image {
	busybox := testutil.BusyboxImage(t)
	docker := busybox
	docker.Docker = true
	rules, _ := unpackRulesImage()
	return map[string]testutil.Image{"oci": busybox, "docker": docker, "rules": rules}
}

// layoutImage reads image name of the OCI layout skopeo wrote in dir and
// returns its manifest and config digest.
func layoutImage(t *testing.T, dir, name string) ([]byte, digest.Digest) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, imagearchive.IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	for _, d := range idx.Manifests {
		if d.Annotations[ocispec.AnnotationRefName] != name {
			continue
		}
		m, err := os.ReadFile(filepath.Join(dir, imagearchive.BlobPath(d.Digest)))
		if err != nil {
			t.Fatal(err)
		}
		var man ocispec.Manifest
		if err := json.Unmarshal(m, &man); err != nil {
			t.Fatal(err)
		}
		return m, man.Config.Digest
	}
	t.Fatalf("no image %q in %s", name, data)
	return nil, ""
}

// TestSkopeoReadsSavedArchive: skopeo takes what Save writes, as a
// docker-archive and as an oci-archive, finds each image of the archive by
// its name in both layouts, and sees the same config (and, for an OCI
// image of compressed layers, the same manifest).
func TestSkopeoReadsSavedArchive(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("skopeo not installed: apt-get install skopeo")
	}
	reg := testutil.StartRegistry(t)
	rt := openTest(t)
	images := interopImages(t)
	names := []string{"docker", "oci", "rules"}
	var refs []string
	imgs := map[string]*Image{}
	for _, name := range names {
		imgs[name] = pullAll(t, rt, reg.Push(t, "test/skopeo-reads:"+name, images[name]))[0]
		refs = append(refs, imgs[name].RepoTags()[0])
	}
	file := filepath.Join(t.TempDir(), "archive.tar")
	if err := os.WriteFile(file, saveArchive(t, rt, refs...), 0o600); err != nil {
		t.Fatal(err)
	}
	fromDocker, fromOCI := t.TempDir(), t.TempDir()
	for i, name := range names {
		img := imgs[name]
		dirs := []string{fromDocker}
		skopeo(t, "copy", "--quiet", "docker-archive:"+file+":"+refs[i], "oci:"+fromDocker+":"+name)
		// skopeo finds only OCI-typed manifests by ref.name, so a Docker
		// schema2 image is read from an oci-archive only when it is the
		// archive's one entry (below).
		if img.rec.MediaType != manifest.MediaTypeDockerManifest {
			skopeo(t, "copy", "--quiet", "oci-archive:"+file+":"+name, "oci:"+fromOCI+":"+name)
			dirs = append(dirs, fromOCI)
		}
		for _, dir := range dirs {
			if _, config := layoutImage(t, dir, name); config.String() != img.ID() {
				t.Errorf("%s via %s: config %s, want %s", name, dir, config, img.ID())
			}
		}
	}
	if m, _ := layoutImage(t, fromOCI, "oci"); digest.FromBytes(m) != imgs["oci"].Digest() {
		t.Errorf("oci-archive copy changed the manifest of an OCI image: %s", m)
	}
	if d := digest.FromBytes(skopeo(t, "inspect", "--raw", "--config", "docker-archive:"+file+":"+refs[0])); d.String() != imgs["docker"].ID() {
		t.Errorf("skopeo inspect --config of the docker-archive: %s, want %s", d, imgs["docker"].ID())
	}
	one := filepath.Join(t.TempDir(), "one.tar")
	if err := os.WriteFile(one, saveArchive(t, rt, refs[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	if d := digest.FromBytes(skopeo(t, "inspect", "--raw", "oci-archive:"+one)); d != imgs["docker"].Digest() {
		t.Errorf("skopeo inspect of the oci-archive: manifest %s, want %s", d, imgs["docker"].Digest())
	}
}

// TestLoadSkopeoArchives: Load takes what skopeo writes, docker-archive
// (uncompressed layers, legacy layer directories linked to the layer
// files) and oci-archive, with the names skopeo gives.
func TestLoadSkopeoArchives(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("skopeo not installed: apt-get install skopeo")
	}
	reg := testutil.StartRegistry(t)
	images := interopImages(t)
	delete(images, "docker") // skopeo writes the same archives from it
	for name, img := range images {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pushed := reg.Push(t, "test/skopeo-writes-"+name+":1", img)
			pulledRT := openTest(t)
			pulled := pullAll(t, pulledRT, pushed)[0]
			for _, transport := range []string{"docker-archive", "oci-archive"} {
				if transport == "docker-archive" && slices.ContainsFunc(img.Layers, func(l testutil.Layer) bool { return l.Compression == testutil.Zstd }) {
					continue // skopeo: "zstd compression is not supported for docker images"
				}
				file := filepath.Join(t.TempDir(), "archive.tar")
				skopeo(t, "copy", "--quiet", "--src-tls-verify=false", "docker://"+pushed.Ref, fmt.Sprintf("%s:%s:x:1", transport, file))
				rt := openTest(t)
				f, err := os.Open(file)
				if err != nil {
					t.Fatal(err)
				}
				got, err := rt.Load(t.Context(), f)
				f.Close()
				if err != nil {
					t.Fatalf("%s: %v", transport, err)
				}
				if len(got) != 1 {
					t.Fatalf("%s: loaded %d images", transport, len(got))
				}
				g := got[0]
				if g.ID() != pushed.ConfigDigest.String() || !slices.Equal(g.RepoTags(), []string{"x:1"}) {
					t.Errorf("%s: ID %s tags %v, want %s [x:1]", transport, g.ID(), g.RepoTags(), pushed.ConfigDigest)
				}
				// skopeo keeps an OCI manifest of compressed layers as it
				// is (it compresses plain tar layers, and converts Docker
				// manifests).
				if transport == "oci-archive" && name == "oci" && g.Digest() != pushed.ManifestDigest {
					t.Errorf("%s: digest %s, want %s", transport, g.Digest(), pushed.ManifestDigest)
				}
				if gt, wt := snapshotTree(t, rt, g), snapshotTree(t, pulledRT, pulled); !slices.Equal(gt, wt) {
					t.Errorf("%s: unpacked files differ from the pulled image's", transport)
				}
			}
		})
	}
}
