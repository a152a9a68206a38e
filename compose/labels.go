package compose

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/hullbox/hull"
)

// Docker Compose's labels, which hull writes and reads the same way, so
// that what one process brings up another finds.
const (
	LabelProject     = "com.docker.compose.project"
	LabelService     = "com.docker.compose.service"
	LabelNumber      = "com.docker.compose.container-number"
	LabelConfigHash  = "com.docker.compose.config-hash"
	LabelOneOff      = "com.docker.compose.oneoff"
	LabelWorkingDir  = "com.docker.compose.project.working_dir"
	LabelConfigFiles = "com.docker.compose.project.config_files"
	LabelNetwork     = "com.docker.compose.network"
	LabelVolume      = "com.docker.compose.volume"
	LabelVersion     = "com.docker.compose.version"
	LabelDependsOn   = "com.docker.compose.depends_on"
	LabelImage       = "com.docker.compose.image"
)

// version is the value of LabelVersion on what hull creates.
const version = "hull"

// configHash is the service's config hash: a digest of its normalized
// configuration less what does not need a new container (the replica
// count, how its image is built or pulled), as Docker Compose computes it.
func configHash(s types.ServiceConfig) (string, error) {
	s.Scale = nil
	if s.Deploy != nil {
		d := *s.Deploy
		d.Replicas = nil
		s.Deploy = &d
	}
	s.Build = nil
	s.PullPolicy = ""
	s.DependsOn = nil
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// containerLabels are the labels of container number n of service s.
func (p *Project) containerLabels(s types.ServiceConfig, n int, oneoff bool) (map[string]string, error) {
	hash, err := configHash(s)
	if err != nil {
		return nil, err
	}
	l := map[string]string{}
	for k, v := range s.Labels {
		l[k] = v
	}
	for k, v := range s.CustomLabels {
		l[k] = v
	}
	var deps []string
	for _, d := range sortedKeys(s.DependsOn) {
		c := s.DependsOn[d]
		deps = append(deps, fmt.Sprintf("%s:%s:%t", d, c.Condition, c.Restart))
	}
	l[LabelProject] = p.p.Name
	l[LabelService] = s.Name
	l[LabelNumber] = strconv.Itoa(n)
	l[LabelConfigHash] = hash
	l[LabelOneOff] = "False"
	if oneoff {
		l[LabelOneOff] = "True"
	}
	l[LabelWorkingDir] = p.p.WorkingDir
	l[LabelConfigFiles] = strings.Join(p.p.ComposeFiles, ",")
	l[LabelVersion] = version
	l[LabelDependsOn] = strings.Join(deps, ",")
	return l, nil
}

// member is one of the project's containers as found on a Runtime.
type member struct {
	c       *hull.Container
	service string
	number  int
	oneoff  bool
	hash    string
	info    hull.ContainerInspect
}

// members lists the project's containers on rt (any status), by service
// and number; one-off containers last.
func (p *Project) members(ctx context.Context, rt *hull.Runtime) ([]*member, error) {
	cs, err := rt.Containers(ctx, hull.WithAllContainers(), hull.WithFilterLabel(LabelProject, p.p.Name))
	if err != nil {
		return nil, err
	}
	var out []*member
	for _, c := range cs {
		info, err := c.Inspect(ctx)
		if err != nil {
			continue // removed meanwhile
		}
		l := info.Config.Labels
		n, _ := strconv.Atoi(l[LabelNumber])
		out = append(out, &member{c: c, service: l[LabelService], number: n,
			oneoff: l[LabelOneOff] == "True", hash: l[LabelConfigHash], info: info})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.oneoff != b.oneoff {
			return !a.oneoff
		}
		if a.service != b.service {
			return a.service < b.service
		}
		return a.number < b.number
	})
	return out, nil
}
