//go:build linux

package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The docker and podman peers run with everything of theirs in a
// temporary directory: a private dockerd (own data root, exec root,
// socket, config dir and cgroup parent) that the first docker benchmark
// starts and TestMain stops, and podman with its own root, run root and
// cgroup parent. They only run inside a private network namespace (as
// compare.sh and scripts/test.sh run the benchmarks), so their bridges,
// iptables/nftables rules and published ports never reach the host, and
// the bench binary has its own mount namespace (see TestMain), so their
// mounts never reach the host's mount table either. The host directories
// they create on their own (/run/containerd/s, /run/docker,
// /run/containers/networks ...) are removed afterwards when they did not
// exist before.

var peers struct {
	sync.Mutex
	dir       string   // holds the busybox archive and every peer's state
	archive   string   // busybox image saved by hull, for docker/podman load
	created   []string // host paths the peers created, removed at the end
	tables    []string // nftables tables of the netns before the peers ran
	lock      *os.File // flock held while this process runs peers
	dockerd   *daemon
	dockerOK  bool // busybox loaded into dockerd
	dockerNet bool // benchNet created in dockerd
	podman    *podman
}

// hostPaths are the places outside their directories where dockerd,
// containerd, podman and netavark write state, whatever their flags.
var hostPaths = []string{
	"/run/containerd", "/run/docker", "/run/containers", "/run/netns",
	"/run/libpod", "/var/lib/containers", "/var/lib/cni", "/etc/docker/key.json",
}

// privateNetns reports whether the process runs in a network namespace
// with no default route (as `unshare --net` makes): nothing sent from it
// can leave the machine.
func privateNetns() bool {
	v4, err1 := os.ReadFile("/proc/net/route")
	v6, err2 := os.ReadFile("/proc/net/ipv6_route")
	if err1 != nil || err2 != nil {
		return false
	}
	for _, line := range strings.Split(string(v4), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 7 && f[1] == "00000000" && f[7] == "00000000" {
			return false
		}
	}
	for _, line := range strings.Split(string(v6), "\n") {
		// The kernel's unreachable default route on lo is no way out.
		if f := strings.Fields(line); len(f) == 10 && f[1] == "00" && f[9] != "lo" {
			return false
		}
	}
	return true
}

// peerDir returns the directory for the peers' state, made on first use,
// and notes which hostPaths exist before any peer runs. Callers hold
// peers.Mutex.
func peerDir(b testing.TB) string {
	b.Helper()
	if peers.dir != "" {
		return peers.dir
	}
	// One benchmark process at a time runs peers: they share the host
	// paths below, which the last one out would otherwise remove under
	// another's feet (or leave, thinking another made them).
	lockDir := "/run/lock"
	if _, err := os.Stat(lockDir); err != nil {
		lockDir = os.TempDir()
	}
	lock, err := os.OpenFile(filepath.Join(lockDir, "hull-bench-peers.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		b.Fatal(err)
	}
	peers.lock = lock
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			peers.created = append(peers.created, p)
		}
	}
	peers.tables = nftTables()
	dir, err := os.MkdirTemp("", "hull-bench-peers-")
	if err != nil {
		b.Fatal(err)
	}
	peers.dir = dir
	return dir
}

// needPeer skips b unless tools are installed and the process is in a
// private network namespace.
func needPeer(b testing.TB, tools ...string) {
	b.Helper()
	need(b, tools...)
	if !privateNetns() {
		b.Skipf("%s: runs only in a private network namespace (sudo bench/compare.sh, or unshare --net), so its bridge and firewall rules stay off the host", tools[0])
	}
}

// busyboxArchive returns the path of busyboxRef saved by hull (rt.Save)
// from tarball, written once. Callers hold peers.Mutex.
func busyboxArchive(b testing.TB, tarball []byte) string {
	b.Helper()
	if peers.archive != "" {
		return peers.archive
	}
	rt := hullBusybox(b, tarball)
	path := filepath.Join(peerDir(b), "busybox.tar")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := rt.Save(context.Background(), f, busyboxRef); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	peers.archive = path
	return path
}

// savedBusybox is busyboxArchive for callers that do not hold
// peers.Mutex.
func savedBusybox(b testing.TB, tarball []byte) string {
	b.Helper()
	peers.Lock()
	defer peers.Unlock()
	return busyboxArchive(b, tarball)
}

// daemon is a dockerd started by the benchmarks.
type daemon struct {
	dir    string
	cgroup string
	cmd    *exec.Cmd
	exited chan error
}

// needDocker skips b unless docker can run here, and points the docker
// CLI (DOCKER_HOST) at a private dockerd, started on first use.
func needDocker(b testing.TB) {
	b.Helper()
	needPeer(b, "docker", "dockerd", "tini")
	peers.Lock()
	defer peers.Unlock()
	if peers.dockerd != nil {
		return
	}
	d, err := startDockerd(filepath.Join(peerDir(b), "docker"))
	if err != nil {
		b.Fatalf("private dockerd: %v", err)
	}
	peers.dockerd = d
}

// dockerBusybox loads busyboxRef into the private dockerd from the
// archive hull saved (once).
func dockerBusybox(b testing.TB, tarball []byte) {
	b.Helper()
	peers.Lock()
	defer peers.Unlock()
	if peers.dockerOK {
		return
	}
	run(b, "docker", "load", "--quiet", "--input", busyboxArchive(b, tarball))
	run(b, "docker", "image", "inspect", busyboxRef)
	peers.dockerOK = true
}

func startDockerd(dir string) (*daemon, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// Its key.json goes here, not to /etc/docker.
	conf := filepath.Join(dir, "daemon.json")
	key := fmt.Sprintf("{%q: %q}\n", "deprecated-key-path", filepath.Join(dir, "key.json"))
	if err := os.WriteFile(conf, []byte(key), 0o600); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	sock := "unix://" + filepath.Join(dir, "docker.sock")
	d := &daemon{dir: dir, cgroup: fmt.Sprintf("hull-bench-docker-%d", os.Getpid()), exited: make(chan error, 1)}
	// tini -s reaps the containerd shims that re-parent to it.
	d.cmd = exec.Command("tini", "-s", "--", "dockerd",
		"--config-file", conf, "--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"), "--pidfile", filepath.Join(dir, "dockerd.pid"),
		"-H", sock, "--cgroup-parent", "/"+d.cgroup, "--log-level", "warn")
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	started := make(chan error)
	go func() {
		// Pdeathsig follows the thread that started the daemon: keep it
		// until the daemon exits.
		runtime.LockOSThread()
		if err := d.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		d.exited <- d.cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	os.Setenv("DOCKER_HOST", sock)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if exec.Command("docker", "version").Run() == nil {
			return d, nil
		}
		select {
		case err := <-d.exited:
			d.exited <- err
			d.stop()
			return nil, fmt.Errorf("dockerd exited (%v):\n%s", err, tail(filepath.Join(dir, "dockerd.log")))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			err := d.stop()
			return nil, fmt.Errorf("dockerd did not answer in 60s (%v):\n%s", err, tail(filepath.Join(dir, "dockerd.log")))
		}
	}
}

// stop removes the daemon's containers, stops it and removes its cgroups
// and directory.
func (d *daemon) stop() error {
	if ids, err := exec.Command("docker", "ps", "-aq").Output(); err == nil && len(ids) > 0 {
		exec.Command("docker", append([]string{"rm", "-f"}, strings.Fields(string(ids))...)...).Run()
	}
	if peers.dockerNet {
		exec.Command("docker", "network", "rm", benchNet).Run()
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	var errs []error
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		errs = append(errs, errors.New("dockerd ignored SIGTERM for 30s"))
	}
	errs = append(errs, removeCgroup(d.cgroup), removeUnder(d.dir))
	return errors.Join(errs...)
}

// podman runs podman with its state in its own directory, runc as its
// runtime (crun refuses cgroup v1 hybrid hosts) and its own cgroup parent.
type podman struct {
	dir    string
	cgroup string
	global []string
	limits []string
	net    bool // benchNet created
}

// needPodman skips b unless podman can run here, and returns it with
// busyboxRef loaded from the archive hull saved.
func needPodman(b testing.TB, tarball []byte) *podman {
	b.Helper()
	needPeer(b, "podman", "runc")
	peers.Lock()
	defer peers.Unlock()
	if peers.podman != nil {
		return peers.podman
	}
	dir := filepath.Join(peerDir(b), "podman")
	p := &podman{dir: dir, cgroup: fmt.Sprintf("hull-bench-podman-%d", os.Getpid())}
	p.global = []string{
		"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"),
		"--tmpdir", filepath.Join(dir, "tmp"), "--network-config-dir", filepath.Join(dir, "net"),
		"--runtime", "runc", "--runtime-flag", "root=" + filepath.Join(dir, "runc"),
		"--cgroup-manager", "cgroupfs", "--events-backend", "none", "--log-level", "error",
	}
	// Podman raises the hard NOFILE/NPROC limits, which this kind of host
	// forbids: NOFILE as docker's containers get it (the daemon's, ours),
	// NPROC 4096 (the most runc's init may set here).
	var nofile syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err != nil {
		b.Fatal(err)
	}
	p.limits = []string{
		"--ulimit", fmt.Sprintf("nofile=%d:%d", nofile.Max, nofile.Max),
		"--ulimit", "nproc=4096:4096",
	}
	peers.podman = p
	p.run(b, "load", "--quiet", "--input", busyboxArchive(b, tarball))
	return p
}

// runArgs is `run` with podman's per-container flags, then args.
func (p *podman) runArgs(args ...string) []string {
	return slices.Concat([]string{"run", "--cgroup-parent", "/" + p.cgroup}, p.limits, args)
}

// cmd is the podman command with its global flags, then args.
func (p *podman) cmd(args ...string) *exec.Cmd {
	return exec.Command("podman", slices.Concat(p.global, args)...)
}

// run runs podman, failing b with its output.
func (p *podman) run(b testing.TB, args ...string) {
	b.Helper()
	run(b, "podman", slices.Concat(p.global, args)...)
}

// output runs podman and returns its standard output, failing b.
func (p *podman) output(b *testing.B, args ...string) string {
	b.Helper()
	return output(b, "podman", slices.Concat(p.global, args)...)
}

// stop removes podman's containers and storage, its cgroups and directory.
func (p *podman) stop() error {
	p.cmd("rm", "--all", "--force", "--time", "0").Run()
	if p.net {
		p.cmd("network", "rm", "--force", benchNet).Run()
	}
	p.cmd("system", "reset", "--force").Run()
	return errors.Join(removeCgroup(p.cgroup), removeUnder(p.dir))
}

// stopPeers stops the peers the benchmarks started and removes what they
// left: directories, cgroups, mounts, and the hostPaths they created.
func stopPeers() error {
	peers.Lock()
	defer peers.Unlock()
	var errs []error
	if peers.dockerd != nil {
		errs = append(errs, peers.dockerd.stop())
	}
	if peers.podman != nil {
		errs = append(errs, peers.podman.stop())
	}
	if peers.dir != "" {
		errs = append(errs, removeUnder(peers.dir))
		errs = append(errs, cleanNetns(peers.tables))
	}
	defer func() {
		if peers.lock != nil {
			peers.lock.Close() // releases the flock
		}
	}()
	for _, p := range peers.created {
		unmountUnder(p)
		if p == "/run/netns" {
			os.Remove(p) // only when empty: ip netns may use it meanwhile
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// nftTables lists the network namespace's nftables tables ("ip nat" ...).
func nftTables() []string {
	out, err := exec.Command("nft", "list", "tables").Output()
	if err != nil {
		return nil
	}
	var tables []string
	for _, line := range strings.Split(string(out), "\n") {
		if t, ok := strings.CutPrefix(strings.TrimSpace(line), "table "); ok {
			tables = append(tables, t)
		}
	}
	return tables
}

// cleanNetns removes from the (private) network namespace what dockerd
// and netavark leave there when they stop: their bridges and the
// iptables-nft tables that were not there before (hull's own table and
// bridges are hull's business, and its tests check them).
func cleanNetns(before []string) error {
	if !privateNetns() {
		return nil
	}
	var errs []error
	for _, t := range nftTables() {
		if !slices.Contains(before, t) && t != "ip hull" && t != "ip6 hull" && t != "inet hull" {
			if out, err := exec.Command("nft", append([]string{"delete", "table"}, strings.Fields(t)...)...).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("nft delete table %s: %v: %s", t, err, out))
			}
		}
	}
	// Not /sys/class/net: sysfs shows the namespace that mounted it.
	links, _ := net.Interfaces()
	for _, l := range links {
		name := l.Name
		if name == "docker0" || strings.HasPrefix(name, "br-") || strings.HasPrefix(name, "podman") {
			if out, err := exec.Command("ip", "link", "delete", name).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("ip link delete %s: %v: %s", name, err, out))
			}
		}
	}
	return errors.Join(errs...)
}

// removeUnder unmounts whatever is mounted under dir (in this mount
// namespace) and removes it.
func removeUnder(dir string) error {
	unmountUnder(dir)
	return os.RemoveAll(dir)
}

// unmountUnder lazily unmounts every mount point at or below dir,
// deepest first.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	slices.Reverse(points)
	for _, p := range points {
		syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// removeCgroup removes the cgroup name (and the cgroups below it) from
// every v1 hierarchy and from the v2 one.
func removeCgroup(name string) error {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", name))
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", name)); err == nil {
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", name))
	}
	var errs []error
	for _, d := range dirs {
		var sub []string
		filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				sub = append(sub, p)
			}
			return nil
		})
		slices.Reverse(sub)
		for _, s := range sub {
			// A cgroup empties a moment after its last process is reaped.
			var err error
			for range 50 {
				if err = syscall.Rmdir(s); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", s, err))
			}
		}
	}
	return errors.Join(errs...)
}

// tail returns the last lines of a log file.
func tail(path string) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}
