package initproc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// WarmMode is Env's value for an init started ahead of time, before any
// container asks for one (internal/spawn's warm_linux.go): it has the same
// namespaces, config and status pipes as any init, plus a unix socket on
// WarmFD. It gets through the exec and the Go runtime's start-up, which
// are most of a container start's cost, then says so with one byte on
// that socket and waits there for the container's standard streams; from
// then on it is an ordinary init.
const WarmMode = "warm"

// WarmFD is the warm init's socket to its parent (fd 5; a warm init never
// has a terminal, whose socket uses the same number).
const WarmFD = 5

// Which standard streams a warm init is sent, in the byte that carries
// them; the others stay /dev/null.
const (
	WarmStdin = 1 << iota
	WarmStdout
	WarmStderr
)

func runWarm() int {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	unix.CloseOnExec(WarmFD)
	warmJSON()
	if _, err := unix.Write(WarmFD, []byte{1}); err != nil {
		return 125
	}
	if err := recvStdio(); err != nil {
		fmt.Fprintf(os.Stderr, "hull-init: %v\n", err)
		return 125
	}
	unix.Close(WarmFD)
	Trace("C warm init adopted")
	return runInit()
}

// recvStdio receives the streams the container's owner chose and puts
// them on fds 0, 1 and 2.
func recvStdio() error {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := unix.Recvmsg(WarmFD, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return fmt.Errorf("receive stdio: %w", err)
	}
	if n != 1 {
		return errors.New("receive stdio: parent went away")
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return fmt.Errorf("receive stdio: %w", err)
		}
		for _, m := range msgs {
			got, err := unix.ParseUnixRights(&m)
			if err != nil {
				return fmt.Errorf("receive stdio: %w", err)
			}
			fds = append(fds, got...)
		}
	}
	for target, bit := range []byte{WarmStdin, WarmStdout, WarmStderr} {
		if buf[0]&bit == 0 {
			continue
		}
		if len(fds) == 0 {
			return errors.New("receive stdio: fewer descriptors than announced")
		}
		if err := unix.Dup3(fds[0], target, 0); err != nil {
			return fmt.Errorf("receive stdio: %w", err)
		}
		unix.Close(fds[0])
		fds = fds[1:]
	}
	return nil
}

// warmJSON runs encoding/json over a Config with every nested type once,
// so that the type information it caches is built while the warm init
// waits rather than when the real config arrives.
func warmJSON() {
	cfg := &Config{Spec: &specs.Spec{
		Process: &specs.Process{
			Capabilities: &specs.LinuxCapabilities{Bounding: []string{""}},
			Rlimits:      []specs.POSIXRlimit{{}}, Env: []string{""}, Args: []string{""},
			User: specs.User{AdditionalGids: []uint32{0}},
		},
		Root:   &specs.Root{},
		Mounts: []specs.Mount{{Options: []string{""}}},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{}},
				Memory:  &specs.LinuxMemory{}, CPU: &specs.LinuxCPU{}, Pids: &specs.LinuxPids{},
			},
			Namespaces: []specs.LinuxNamespace{{}},
			Devices:    []specs.LinuxDevice{{}},
			Seccomp: &specs.LinuxSeccomp{
				Architectures: []specs.Arch{""},
				Syscalls:      []specs.LinuxSyscall{{Names: []string{""}, Args: []specs.LinuxSeccompArg{{}}}},
			},
			MaskedPaths: []string{""}, ReadonlyPaths: []string{""},
			Sysctl: map[string]string{"": ""},
		},
		Annotations: map[string]string{"": ""},
	}, Lowers: []string{""}}
	data, err := json.Marshal(cfg)
	if err == nil {
		_ = json.Unmarshal(data, new(Config))
	}
}
