package compose

import (
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/hullbox/hull"
)

// errNotYet is what needs the core's healthchecks and restart policies,
// which hull does not have yet.
var errNotYet = fmt.Errorf("%w: not supported yet (needs hull healthchecks and restart policies)", hull.ErrUnsupported)

func (p *Project) healthOptions(sp *serviceSpec, s *types.ServiceConfig) error {
	if s.HealthCheck != nil && !s.HealthCheck.Disable {
		return &FieldError{File: p.file(), Service: s.Name, Field: "healthcheck", Err: errNotYet}
	}
	for _, dep := range sortedKeys(s.DependsOn) {
		if s.DependsOn[dep].Condition == types.ServiceConditionHealthy {
			return &FieldError{File: p.file(), Service: s.Name, Field: "depends_on." + dep + ".condition", Err: errNotYet}
		}
	}
	return nil
}

func (p *Project) restartOptions(sp *serviceSpec, s *types.ServiceConfig) error {
	if s.Restart != "" && s.Restart != types.RestartPolicyNo {
		return &FieldError{File: p.file(), Service: s.Name, Field: "restart", Err: errNotYet}
	}
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil && s.Deploy.RestartPolicy.Condition != "none" {
		return &FieldError{File: p.file(), Service: s.Name, Field: "deploy.restart_policy", Err: errNotYet}
	}
	return nil
}
