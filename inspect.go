package hull

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// ContainerInspect is a snapshot of a container's configuration and state.
// Its fields, their nesting and their JSON form are those of `docker
// inspect` for what hull has, so that scripts written for `docker inspect
// | jq` work on `hull inspect`: .Id, .Name, .State.Status, .Config.Image,
// .HostConfig.NetworkMode, .NetworkSettings.Networks, .Mounts...
type ContainerInspect struct {
	ID      string             `json:"Id"`      // 64 hex digits
	Created time.Time          `json:"Created"` // when Create made it
	Path    string             `json:"Path"`    // the command
	Args    []string           `json:"Args"`    // its arguments
	State   ContainerStateInfo `json:"State"`   // status, PID, exit
	// Image is the ID ("sha256:<hex>") of the image the container was
	// created from, as Docker, also once that image has been removed
	// (a container made by a hull older than this field's shows it only
	// while its image exists). Config.Image is the reference it was
	// created from.
	Image string `json:"Image"`
	// Name is the container's name with Docker's leading slash: "/cache"
	// (Container.Name has none).
	Name       string          `json:"Name"`
	HostConfig HostConfig      `json:"HostConfig"` // resources and namespaces
	Mounts     []MountPoint    `json:"Mounts"`     // volumes, binds and tmpfs mounts
	Config     ContainerConfig `json:"Config"`     // image and run options
	// RestartCount is how many times the restart policy restarted the
	// container since it was last started by Start (or created).
	RestartCount    int             `json:"RestartCount"`
	NetworkSettings NetworkSettings `json:"NetworkSettings"` // networks and published ports
}

// ContainerStateInfo is the state part of ContainerInspect.
type ContainerStateInfo struct {
	Status Status `json:"Status"` // StatusCreated, StatusRunning, StatusPaused or StatusExited
	// Restarting: the container exited and its restart policy starts it
	// again after a backoff (Status stays StatusExited meanwhile).
	Restarting bool      `json:"Restarting"`
	Running    bool      `json:"Running"`    // running or paused, as Docker
	Paused     bool      `json:"Paused"`     // Pause'd (cgroup freezer)
	OOMKilled  bool      `json:"OOMKilled"`  // the OOM killer killed a process of its last run
	Pid        int       `json:"Pid"`        // host PID of the container's init; 0 when not running
	ExitCode   int       `json:"ExitCode"`   // of the last run (ExitStatus.ExitCode); 0 before
	Error      string    `json:"Error"`      // why the start failed, if it did
	StartedAt  time.Time `json:"StartedAt"`  // last start; zero if never started
	FinishedAt time.Time `json:"FinishedAt"` // last exit; zero if it never exited
	// Health is the health check's state, nil without a health check.
	Health *HealthState `json:"Health,omitempty"`
}

// ContainerConfig is the part of ContainerInspect that the image and the
// run options configured (Docker's Config).
type ContainerConfig struct {
	Hostname   string   `json:"Hostname"`   // WithHostname, else the short ID
	User       string   `json:"User"`       // WithUser, else the image's
	TTY        bool     `json:"Tty"`        // WithTTY
	OpenStdin  bool     `json:"OpenStdin"`  // WithOpenStdin or WithStdin: Attach may send input
	Env        []string `json:"Env"`        // the image's, then WithEnv
	Cmd        []string `json:"Cmd"`        // WithCmd, else the image's
	Image      string   `json:"Image"`      // the reference the container was created from
	WorkingDir string   `json:"WorkingDir"` // WithWorkdir, else the image's
	Entrypoint []string `json:"Entrypoint"` // WithEntrypoint, else the image's
	// Labels are the image's labels, then WithLabels.
	Labels map[string]string `json:"Labels"`
	// Healthcheck is the health check the container runs (the image's
	// merged with WithHealthcheck), nil for none.
	Healthcheck *Healthcheck `json:"Healthcheck,omitempty"`
}

// HostConfig is the part of ContainerInspect about the container's
// resources and namespaces (Docker's HostConfig).
type HostConfig struct {
	NetworkMode NetworkMode `json:"NetworkMode"` // "bridge", a network's name, "none", "host", "container:<id>"
	Memory      int64       `json:"Memory"`      // bytes; 0: unlimited
	PidsLimit   int64       `json:"PidsLimit"`   // 0: unlimited
	AutoRemove  bool        `json:"AutoRemove"`  // WithAutoRemove
	// RestartPolicy is WithRestartPolicy's; Name "no" by default.
	RestartPolicy RestartPolicy `json:"RestartPolicy"`
}

// Inspect returns the container's configuration and current state. It
// fails with ErrNotFound if the container has been removed.
func (c *Container) Inspect(ctx context.Context) (ContainerInspect, error) {
	if err := ctx.Err(); err != nil {
		return ContainerInspect{}, fmt.Errorf("inspect container %s: %w", shortContainerID(c.id), err)
	}
	st, err := c.snapshot()
	if err != nil {
		return ContainerInspect{}, fmt.Errorf("inspect container %s: %w", shortContainerID(c.id), err)
	}
	in := ContainerInspect{
		ID: st.ID, Name: "/" + st.Name, Created: st.Created,
		Config: ContainerConfig{
			Hostname: st.Hostname, User: st.User, TTY: st.TTY, OpenStdin: st.OpenStdin,
			Env: slices.Clone(st.Env), Cmd: slices.Clone(st.Cmd), Image: st.Image,
			WorkingDir: st.Workdir, Entrypoint: slices.Clone(st.Entrypoint),
			Labels: cloneLabels(st.Labels), Healthcheck: st.Healthcheck.clone(),
		},
		HostConfig: HostConfig{
			NetworkMode: st.NetworkMode, Memory: st.Memory, PidsLimit: st.PidsLimit,
			AutoRemove: st.AutoRemove, RestartPolicy: st.RestartPolicy,
		},
		RestartCount: st.RestartCount,
		Mounts:       slices.Clone(st.Mounts), NetworkSettings: st.networkSettings(),
		State: ContainerStateInfo{
			Status: st.Status, Running: st.Status == StatusRunning || st.Status == StatusPaused,
			Paused:   st.Status == StatusPaused,
			ExitCode: st.ExitCode, OOMKilled: st.OOMKilled, Error: st.Error,
			StartedAt: st.StartedAt, FinishedAt: st.FinishedAt,
			Restarting: st.restartPending(), Health: st.Health.clone(),
		},
	}
	if in.HostConfig.RestartPolicy.Name == "" {
		in.HostConfig.RestartPolicy.Name = RestartNo
	}
	if len(st.Args) > 0 {
		in.Path, in.Args = st.Args[0], slices.Clone(st.Args[1:])
	}
	// Docker prints [] and {} for these, never null: jq '.Mounts[]' works.
	if in.Args == nil {
		in.Args = []string{}
	}
	if in.Mounts == nil {
		in.Mounts = []MountPoint{}
	}
	if in.Config.Labels == nil {
		in.Config.Labels = map[string]string{}
	}
	if st.Status != StatusExited {
		in.State.Pid = st.Pid
	}
	if in.Image = st.ImageID; in.Image == "" {
		// A container of an older hull: found while its image is.
		ix, err := c.rt.store.ReadIndex()
		if err != nil {
			return ContainerInspect{}, fmt.Errorf("inspect container %s: %w", shortContainerID(c.id), err)
		}
		if rec := ix.Images[st.ImageDigest]; rec != nil {
			in.Image = rec.Config.String()
		}
	}
	return in, nil
}

// snapshot reads the container's state again (unless this Runtime runs
// it) and returns a copy, a container whose init is gone shown exited; the
// status checks of the state machine use it too (status). It fails with
// ErrNotFound if the container has been removed, and with the read's
// error, returning the state it knew.
func (c *Container) snapshot() (containerState, error) {
	err := c.refresh() // lifecycle_linux.go
	c.mu.Lock()
	st, lp := c.st, c.lp
	c.mu.Unlock()
	if lp == nil {
		// A view, not a transition: its owner (or the next Open's
		// recovery) records the exit.
		st.Status = st.view()
	} else if st.supervised() {
		c.supervisedView(&st) // health.go
	}
	return st, err
}

// MarshalJSON writes the settings in Docker's form: Ports is a map from
// "port/proto" to the host bindings, each with its HostPort a string.
func (ns NetworkSettings) MarshalJSON() ([]byte, error) {
	type hostBinding struct {
		HostIP   string `json:"HostIp"`
		HostPort string
	}
	type settings NetworkSettings // without this method
	out := struct {
		settings
		Ports map[string][]hostBinding
	}{settings: settings(ns), Ports: map[string][]hostBinding{}}
	for _, p := range ns.Ports {
		k := strconv.Itoa(int(p.ContainerPort)) + "/" + p.Proto
		out.Ports[k] = append(out.Ports[k], hostBinding{HostIP: p.HostIP, HostPort: strconv.Itoa(int(p.HostPort))})
	}
	return json.Marshal(out)
}
