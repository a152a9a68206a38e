package compose_test

import (
	"bufio"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/hullbox/hull"
	"github.com/hullbox/hull/compose"
)

var update = flag.Bool("update", false, "rewrite testdata/corpus/*/config.golden.yaml")

// corpusCase is one directory of testdata/corpus: its compose files (the
// "# files:" line of compose.yaml, else compose.yaml) and what Check
// says ("# check: ok", or "# check: unsupported FIELD...").
type corpusCase struct {
	dir         string
	files       []string
	unsupported []string
}

func corpus(t *testing.T) []corpusCase {
	t.Helper()
	dirs, err := filepath.Glob("testdata/corpus/*")
	if err != nil || len(dirs) < 10 {
		t.Fatalf("corpus: %d directories (%v), want 10 or more", len(dirs), err)
	}
	var out []corpusCase
	for _, d := range dirs {
		abs, _ := filepath.Abs(d)
		c := corpusCase{dir: abs, files: []string{"compose.yaml"}}
		f, err := os.Open(filepath.Join(d, "compose.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() && strings.HasPrefix(sc.Text(), "#") {
			if v, ok := strings.CutPrefix(sc.Text(), "# files:"); ok {
				c.files = strings.Fields(v)
			}
			if v, ok := strings.CutPrefix(sc.Text(), "# check: unsupported"); ok {
				c.unsupported = strings.Fields(v)
			}
		}
		f.Close()
		for i, f := range c.files {
			c.files[i] = filepath.Join(abs, f)
		}
		out = append(out, c)
	}
	return out
}

// TestConfigCorpus loads each compose file of the corpus (awesome-compose
// style samples covering extends, include, .env and env_file
// interpolation, profiles, long syntax, static addresses, overrides,
// anchors) and compares Config with compose-go's own normalization of the
// same files, and with the golden file; then checks that Check accepts
// what hull can run and names every field it cannot.
func TestConfigCorpus(t *testing.T) {
	for _, c := range corpus(t) {
		t.Run(filepath.Base(c.dir), func(t *testing.T) {
			p, err := compose.Load(t.Context(), compose.WithWorkingDir(c.dir), compose.WithFiles(c.files...), compose.WithEnvironment())
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Config()
			if err != nil {
				t.Fatal(err)
			}
			po, err := cli.NewProjectOptions(c.files, cli.WithWorkingDirectory(c.dir), cli.WithEnv(nil), cli.WithEnvFiles(), cli.WithDotEnv, cli.WithDefaultProfiles())
			if err != nil {
				t.Fatal(err)
			}
			ref, err := po.LoadProject(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.MarshalYAML()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("Config differs from compose-go's normalization:\n--- hull\n%s\n--- compose-go\n%s", got, want)
			}
			golden := filepath.Join(c.dir, "config.golden.yaml")
			norm := strings.ReplaceAll(string(got), c.dir, "${CORPUS_DIR}")
			if *update {
				if err := os.WriteFile(golden, []byte(norm), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if g, err := os.ReadFile(golden); err != nil || string(g) != norm {
				t.Errorf("Config differs from %s (go test -update rewrites it; %v):\n%s", golden, err, norm)
			}

			err = p.Check()
			if len(c.unsupported) == 0 {
				if err != nil {
					t.Errorf("Check: %v", err)
				}
				return
			}
			if !errors.Is(err, hull.ErrUnsupported) {
				t.Fatalf("Check: %v, want ErrUnsupported", err)
			}
			for _, field := range c.unsupported {
				if !strings.Contains(err.Error(), ": "+field+": ") || !strings.Contains(err.Error(), "compose.yaml") {
					t.Errorf("Check does not name %s:\n%v", field, err)
				}
			}
		})
	}
}
