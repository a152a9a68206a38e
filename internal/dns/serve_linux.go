package dns

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/vishvananda/netns"
)

// ErrExited is wrapped by ServeProcess's error when the process whose
// network namespace was asked for is gone (or its pid reused).
var ErrExited = errors.New("the container's init has exited")

// ServeFileName is the file in a container's directory that says its
// owner (the process that started it) serves its DNS, and with which
// upstreams. Without it, the container's init serves or no one does.
const ServeFileName = "dns.json"

type serveFile struct {
	Upstreams []string `json:"upstreams"`
}

// WriteServeFile records in the container directory dir that the
// container's owner serves its DNS, forwarding to ups.
func WriteServeFile(dir string, ups []string) error {
	data, err := json.Marshal(serveFile{Upstreams: ups})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ServeFileName), data, 0o600)
}

// ReadServeFile returns the upstreams WriteServeFile recorded in dir,
// and false if there is no such record (the owner does not serve).
func ReadServeFile(dir string) ([]string, bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, ServeFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var f serveFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, false, fmt.Errorf("%s: %w", ServeFileName, err)
	}
	return f.Upstreams, true, nil
}

// ServeProcess serves the names of container self from the table file
// at names (opened read-only), and other names from ups, on Addr in the
// network namespace of pid, until Stop. alive is asked once the
// namespace is open: false (pid is no longer the process meant, which
// exited or whose pid was reused) fails with ErrExited.
func ServeProcess(pid int, alive func() bool, names, self string, ups []string) (*NetnsServer, error) {
	ns, err := netns.GetFromPath("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		return nil, fmt.Errorf("container network namespace: %w", err)
	}
	if !alive() {
		ns.Close()
		return nil, fmt.Errorf("container network namespace: %w", ErrExited)
	}
	f, err := os.Open(names) // read-only: this server only reads the table
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("name table: %w", err)
	}
	return ServeNetns(ns, NewReader(f), self, ups)
}
