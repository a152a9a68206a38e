package hulltest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull/internal/testutil"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ImageOption says what goes into an image Image makes.
type ImageOption func(*imageConfig) error

type imageConfig struct {
	files   map[string]file // by clean path without the leading "/"
	config  ocispec.ImageConfig
	binary  string   // path of the only Go binary, for the default Cmd
	goPkgs  []string // Go main packages to compile, with their paths
	busybox bool
}

type file struct {
	body []byte
	mode fs.FileMode
	link string // symlink target, if a symlink
}

// WithFile puts a regular file with body and permission bits mode at path
// (absolute, e.g. "/etc/app.conf") in the image. Its parent directories are
// made (0755). A later option for the same path wins.
func WithFile(path string, body []byte, mode fs.FileMode) ImageOption {
	return func(c *imageConfig) error {
		p, err := imagePath(path)
		if err != nil {
			return err
		}
		c.files[p] = file{body: body, mode: mode.Perm()}
		return nil
	}
}

// WithHostFile copies the host file hostPath (its content and permission
// bits) to path in the image.
func WithHostFile(hostPath, path string) ImageOption {
	return func(c *imageConfig) error {
		body, err := os.ReadFile(hostPath)
		if err != nil {
			return err
		}
		st, err := os.Stat(hostPath)
		if err != nil {
			return err
		}
		return WithFile(path, body, st.Mode())(c)
	}
}

// WithGoBinary compiles the Go main package pkg ("./cmd/api", relative to
// the test's package directory, or an import path) for linux/GOARCH with
// CGO_ENABLED=0 and -trimpath, so statically and reproducibly, and puts it
// at /<the package's last path element> ("/api"). With one Go binary and no
// Cmd or Entrypoint from WithConfig, the image's Cmd runs it. The build is
// `go build` with the go command on PATH, offline if the module cache
// holds what pkg imports; Go's build cache makes it fast the second time.
func WithGoBinary(pkg string) ImageOption {
	return func(c *imageConfig) error {
		name := path.Base(filepath.ToSlash(pkg))
		if pkg == "." || pkg == "" {
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			name = filepath.Base(wd)
		}
		if name == "..." || name == "." || name == ".." {
			return fmt.Errorf("WithGoBinary(%q): want one main package", pkg)
		}
		c.goPkgs = append(c.goPkgs, pkg, "/"+name)
		if c.binary == "" {
			c.binary = "/" + name
		} else {
			c.binary = "-" // several: no default Cmd
		}
		return nil
	}
}

// WithBusybox puts the host's static busybox (Debian's busybox-static,
// /bin/busybox) in the image with sh, ls, cat, wget and its other usual
// applets in /bin, /etc/passwd and /etc/group (root, nobody, app 1000), and
// a PATH; Cmd defaults to sh. The test is skipped if /bin/busybox is
// missing or not static.
func WithBusybox() ImageOption {
	return func(c *imageConfig) error {
		c.busybox = true
		return nil
	}
}

// WithConfig sets the image's configuration: Cmd, Entrypoint, Env,
// ExposedPorts, WorkingDir, User, Labels... Default: Cmd from
// WithGoBinary or WithBusybox, Docker's default PATH. The fields it sets
// replace those defaults.
func WithConfig(cfg ocispec.ImageConfig) ImageOption {
	return func(c *imageConfig) error {
		exp := c.config.ExposedPorts
		c.config = cfg
		if c.config.ExposedPorts == nil {
			c.config.ExposedPorts = exp
		}
		return nil
	}
}

// WithExpose adds ports ("8080/tcp", "53/udp") to the image's ExposedPorts:
// Run publishes them on 127.0.0.1.
func WithExpose(ports ...string) ImageOption {
	return func(c *imageConfig) error {
		if c.config.ExposedPorts == nil {
			c.config.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range ports {
			num, proto, err := parsePort(p)
			if err != nil {
				return err
			}
			c.config.ExposedPorts[fmt.Sprintf("%d/%s", num, proto)] = struct{}{}
		}
		return nil
	}
}

func imagePath(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("image path %q is not absolute", p)
	}
	p = strings.TrimPrefix(path.Clean(p), "/")
	if p == "" {
		return "", fmt.Errorf("image path %q names the root", p)
	}
	return p, nil
}

// Image makes a one-layer image of what opts give, loads it into the
// shared root and returns its reference ("localhost/hulltest:<20 hex
// digits of its manifest digest>"). Nothing is downloaded. The image is
// reproducible (files and config dated 2024-01-01, entries in path order):
// the same options make the same image ID, so tests and test binaries
// that make it, even at once, share one image. Push it to a Registry with
// Runtime(t).Tag and Push where a test needs a registry.
func Image(t testing.TB, opts ...ImageOption) string {
	t.Helper()
	rt := Runtime(t)
	cfg := imageConfig{files: map[string]file{}}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			t.Fatalf("hulltest: image: %v", err)
		}
	}
	if cfg.busybox {
		addBusybox(t, &cfg)
	}
	for i := 0; i < len(cfg.goPkgs); i += 2 {
		body, err := goBuild(cfg.goPkgs[i])
		if err != nil {
			if errors.Is(err, exec.ErrNotFound) {
				t.Skipf("hulltest: WithGoBinary needs the go command: %v", err)
			}
			t.Fatalf("hulltest: image: %v", err)
		}
		p, _ := imagePath(cfg.goPkgs[i+1])
		cfg.files[p] = file{body: body, mode: 0o755}
	}
	if len(cfg.config.Cmd) == 0 && len(cfg.config.Entrypoint) == 0 && cfg.binary != "" && cfg.binary != "-" {
		cfg.config.Cmd = []string{cfg.binary}
	}
	if len(cfg.config.Env) == 0 {
		cfg.config.Env = []string{testutil.DefaultPath}
	}
	layer, err := layerTar(cfg.files)
	if err != nil {
		t.Fatalf("hulltest: image: %v", err)
	}
	archive, ref, err := ociArchive(cfg.config, layer)
	if err != nil {
		t.Fatalf("hulltest: image: %v", err)
	}
	ctx := testContext(t)
	if _, err := rt.Image(ctx, ref); err == nil {
		return ref
	}
	if _, err := rt.Load(ctx, bytes.NewReader(archive)); err != nil {
		t.Fatalf("hulltest: load image: %v", err)
	}
	return ref
}

// epoch is the creation time of every image Image makes, and of its
// files, so that the same options make the same image ID.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// ociArchive returns an OCI image layout, as a tar, holding one image of
// config and the uncompressed layer, tagged with the reference it
// returns: "localhost/hulltest:" and 20 hex digits of the manifest's
// digest. Loading the same content twice, even at once from two
// processes, gives the same image.
func ociArchive(config ocispec.ImageConfig, layer []byte) ([]byte, string, error) {
	layerDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}
	conf, err := json.Marshal(ocispec.Image{
		Created:  &epoch,
		Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Config:   config,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDesc.Digest}},
		History:  []ocispec.History{{Created: &epoch, CreatedBy: "hulltest.Image"}},
	})
	if err != nil {
		return nil, "", err
	}
	confDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(conf), Size: int64(len(conf))}
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    confDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	})
	if err != nil {
		return nil, "", err
	}
	mDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	tag := mDesc.Digest.Encoded()[:20]
	ref := "localhost/hulltest:" + tag
	mDesc.Annotations = map[string]string{
		"io.containerd.image.name": ref,
		ocispec.AnnotationRefName:  tag,
	}
	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{mDesc},
	})
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []struct {
		name string
		data []byte
	}{
		{ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{"blobs/sha256/" + layerDesc.Digest.Encoded(), layer},
		{"blobs/sha256/" + confDesc.Digest.Encoded(), conf},
		{"blobs/sha256/" + mDesc.Digest.Encoded(), manifest},
	}
	for _, e := range entries {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), ref, nil
}

// addBusybox adds testutil's busybox root filesystem to cfg.
func addBusybox(t testing.TB, cfg *imageConfig) {
	t.Helper()
	for _, f := range testutil.BusyboxFiles(t) {
		p := strings.TrimSuffix(f.Name, "/")
		if _, ok := cfg.files[p]; ok {
			continue // the test's own file wins
		}
		switch f.Type {
		case tar.TypeDir:
			cfg.files[p] = file{mode: fs.ModeDir | fs.FileMode(f.Mode).Perm() | stickyBit(f.Mode)}
		case tar.TypeSymlink:
			cfg.files[p] = file{link: f.Linkname}
		default:
			cfg.files[p] = file{body: f.Body, mode: fs.FileMode(f.Mode).Perm()}
		}
	}
	if len(cfg.config.Cmd) == 0 && len(cfg.config.Entrypoint) == 0 && cfg.binary == "" {
		cfg.config.Cmd = []string{"sh"}
	}
}

func stickyBit(mode int64) fs.FileMode {
	if mode&0o1000 != 0 {
		return fs.ModeSticky
	}
	return 0
}

// layerTar writes files, with their parent directories and the directories
// every root needs (proc, sys, dev, etc, tmp), as a tar in path order.
func layerTar(files map[string]file) ([]byte, error) {
	all := map[string]file{}
	for _, d := range []string{"proc", "sys", "dev", "etc"} {
		all[d] = file{mode: fs.ModeDir | 0o755}
	}
	all["tmp"] = file{mode: fs.ModeDir | fs.ModeSticky | 0o777}
	for p, f := range files {
		all[p] = f
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = file{mode: fs.ModeDir | 0o755}
			}
		}
	}
	paths := make([]string, 0, len(all))
	for p := range all {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := all[p]
		hdr := &tar.Header{Name: p, ModTime: epoch, Mode: int64(f.mode.Perm())}
		if f.mode&fs.ModeSticky != 0 {
			hdr.Mode |= 0o1000
		}
		switch {
		case f.link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, f.link, 0o777
		case f.mode.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, p+"/"
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// goBuild compiles the main package pkg statically for linux and returns
// the binary.
func goBuild(pkg string) ([]byte, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hulltest-go-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "bin")
	cmd := exec.Command(goCmd, "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
	}
	return os.ReadFile(out)
}
