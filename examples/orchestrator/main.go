// Command orchestrator is a small reconciler written with hull: it keeps N
// replicas of a web service on a network of their own, replaces a replica
// that dies (seen through Runtime.Events), rolls the service from v1 to
// v2 one replica at a time behind readiness checks, and rolls back an
// update to v3 whose second replica fails them.
//
// The replicas are Detached: they outlive the process that started them,
// and a later run of the program, another process, finds them on the
// same state root and manages them. The phases are separate runs:
//
//	sudo go run ./examples/orchestrator -root /tmp/orch -phase up        # images, network, 3 v1 replicas; exits
//	sudo go run ./examples/orchestrator -root /tmp/orch -phase reconcile # crash, replace, update, rollback
//	sudo go run ./examples/orchestrator -root /tmp/orch -phase down      # removes it all
//	sudo go run ./examples/orchestrator                                  # the three, each in its own process
//
// The images are made from the host's static busybox (Debian's
// busybox-static): nothing but the machine's own bridges is used.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hullbox/hull"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Labels the orchestrator puts on its replicas, to find them again from
// any process.
const (
	labelService = "example.orchestrator/service"
	labelVersion = "example.orchestrator/version"
	labelIndex   = "example.orchestrator/index"
)

const service = "app"

func main() {
	root := flag.String("root", "", "state root shared by the phases (default with -phase all: a temporary one)")
	phase := flag.String("phase", "all", "up, reconcile, down, or all (each in a process of its own)")
	replicas := flag.Int("replicas", 3, "replicas to keep")
	readyTimeout := flag.Duration("ready-timeout", 3*time.Second, "how long a new replica has to pass its readiness check")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()
	var err error
	switch *phase {
	case "all":
		err = all(*root)
	case "up", "reconcile", "down":
		if *root == "" {
			log.Fatal("orchestrator: -phase ", *phase, " needs -root: the phases share it")
		}
		o := &orchestrator{replicas: *replicas, readyTimeout: *readyTimeout}
		err = o.run(ctx, *root, *phase)
	default:
		err = fmt.Errorf("no phase %q", *phase)
	}
	if err != nil {
		log.Fatal("orchestrator: ", err)
	}
}

// all runs each phase in a new process of this program, on a temporary
// root unless one is given.
func all(root string) error {
	if root == "" {
		dir, err := os.MkdirTemp("", "hull-orchestrator-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		root = dir
	}
	for _, phase := range []string{"up", "reconcile", "down"} {
		args := []string{"-root", root, "-phase", phase}
		flag.Visit(func(f *flag.Flag) {
			if f.Name != "root" && f.Name != "phase" {
				args = append(args, "-"+f.Name+"="+f.Value.String())
			}
		})
		cmd := exec.Command(os.Args[0], args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			err = fmt.Errorf("phase %s: %w", phase, err)
			if phase != "down" {
				// Detached replicas would outlive us: take them down.
				down := exec.Command(os.Args[0], "-root", root, "-phase", "down")
				down.Stdout, down.Stderr = os.Stdout, os.Stderr
				err = errors.Join(err, down.Run())
			}
			return err
		}
	}
	return nil
}

type orchestrator struct {
	rt           *hull.Runtime
	net          *hull.Network
	replicas     int
	readyTimeout time.Duration
	lastIndex    int // of the replicas this process started
}

func (o *orchestrator) run(ctx context.Context, root, phase string) (retErr error) {
	rt, err := hull.Open(ctx, hull.WithRoot(root))
	if err != nil {
		return err
	}
	// Close leaves Detached containers running: they are not this
	// process's.
	defer func() { retErr = errors.Join(retErr, rt.Close()) }()
	o.rt = rt
	say(phase, "process %d on %s", os.Getpid(), root)
	switch phase {
	case "up":
		return o.up(ctx)
	case "reconcile":
		return o.reconcile(ctx)
	default:
		return o.down(ctx)
	}
}

// up makes the images and the network and starts the v1 replicas.
func (o *orchestrator) up(ctx context.Context) error {
	if err := makeImages(ctx, o.rt); err != nil {
		return err
	}
	net, err := o.rt.CreateNetwork(ctx, service+"-net")
	if err != nil {
		return err
	}
	o.net = net
	for i := range o.replicas {
		if _, err := o.startReady(ctx, "v1", i+1); err != nil {
			return err
		}
	}
	return o.report(ctx, "up")
}

// reconcile finds the replicas another process started and manages them.
func (o *orchestrator) reconcile(ctx context.Context) error {
	net, err := o.rt.Network(ctx, service+"-net")
	if err != nil {
		return err
	}
	o.net = net
	cs, err := o.list(ctx)
	if err != nil {
		return err
	}
	say("found", "%d replicas started by another process", len(cs))

	// Watch the replicas' deaths: every process on the root sees the
	// events, so this works for containers we did not start.
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	events, err := o.rt.Events(wctx,
		hull.WithEventsFilter("type", "container"), hull.WithEventsFilter("event", "die"),
		hull.WithEventsSince(time.Now()))
	if err != nil {
		return err
	}
	victim := cs[len(cs)/2]
	if err := victim.Kill(ctx, syscall.SIGKILL); err != nil {
		return err
	}
	say("chaos", "%s killed with SIGKILL", victim.Name())
	if err := o.replaceDead(ctx, events, victim.Name()); err != nil {
		return err
	}
	stopWatch()

	if err := o.rollingUpdate(ctx, "v2"); err != nil {
		return err
	}
	if err := o.rollingUpdate(ctx, "v3"); err != nil {
		return err
	}
	return o.report(ctx, "now")
}

// replaceDead waits for the die event of name, then removes that replica
// and starts another of the same version.
func (o *orchestrator) replaceDead(ctx context.Context, events <-chan hull.Event, name string) error {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return errors.New("events closed")
			}
			if ev.Name != name {
				continue
			}
			c, err := o.rt.Container(ctx, ev.ID)
			if err != nil {
				return err
			}
			st, err := c.Wait(ctx) // returns at once: it has exited
			if err != nil {
				return err
			}
			version := labels(ctx, c)[labelVersion]
			say("died", "%s (%s): exit %d, seen in a %q event", name, version, st.ExitCode, ev.Action)
			if err := c.Remove(ctx); err != nil {
				return err
			}
			n, err := o.startReady(ctx, version, 1)
			if err != nil {
				return err
			}
			say("replaced", "%s by %s", name, n.Name())
			return nil
		case <-timeout:
			return fmt.Errorf("no die event for %s", name)
		}
	}
}

// rollingUpdate replaces the replicas one at a time: a new one of version
// is started and must pass its readiness check before an old one is
// stopped. When one fails, the update is rolled back: the new replicas are
// removed and replicas of the old version are started in their place.
func (o *orchestrator) rollingUpdate(ctx context.Context, version string) error {
	old, err := o.list(ctx)
	if err != nil {
		return err
	}
	if len(old) == 0 {
		return errors.New("no replicas to update")
	}
	prev := labels(ctx, old[0])[labelVersion]
	var started []*hull.Container
	for i, c := range old {
		n, err := o.startReady(ctx, version, i+1)
		if err != nil {
			say("failed", "%v", err)
			return o.rollback(ctx, prev, started)
		}
		started = append(started, n)
		if err := o.retire(ctx, c); err != nil {
			return err
		}
		say("updated", "%s -> %s", c.Name(), n.Name())
	}
	return nil
}

// rollback removes the replicas of a failed update and starts replicas of
// the previous version until there are enough again.
func (o *orchestrator) rollback(ctx context.Context, prev string, started []*hull.Container) error {
	for _, c := range started {
		if err := c.Remove(ctx, hull.WithForce()); err != nil {
			return err
		}
		say("rollback", "%s removed", c.Name())
	}
	cs, err := o.list(ctx)
	if err != nil {
		return err
	}
	for i := len(cs); i < o.replicas; i++ {
		if _, err := o.startReady(ctx, prev, i+1); err != nil {
			return err
		}
	}
	say("rollback", "back on %s", prev)
	return nil
}

// retire stops and removes a replica (its init forwards SIGTERM).
func (o *orchestrator) retire(ctx context.Context, c *hull.Container) error {
	if err := c.Stop(ctx, 5*time.Second); err != nil {
		return err
	}
	return c.Remove(ctx)
}

// startReady starts a Detached replica of version, the ordinal-th of its
// rollout, and waits for it to pass its readiness check; one that fails
// it is removed.
func (o *orchestrator) startReady(ctx context.Context, version string, ordinal int) (*hull.Container, error) {
	idx, err := o.nextIndex(ctx)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-%d", service, idx)
	c, err := o.rt.Run(ctx, service+":"+version,
		hull.WithName(name),
		hull.WithDetached(),
		hull.WithInit(),
		hull.WithEnv("ORDINAL="+strconv.Itoa(ordinal)),
		hull.WithNetwork(o.net, hull.WithAlias(service)),
		hull.WithLabels(map[string]string{labelService: service, labelVersion: version, labelIndex: strconv.Itoa(idx)}))
	if err != nil {
		return nil, err
	}
	if err := o.ready(ctx, c, version); err != nil {
		c.Remove(ctx, hull.WithForce())
		return nil, fmt.Errorf("%s (%s) not ready: %w", name, version, err)
	}
	say("ready", "%s (%s)", name, version)
	return c, nil
}

// ready polls the replica's page on its network address until it serves
// its version, for at most readyTimeout.
func (o *orchestrator) ready(ctx context.Context, c *hull.Container, version string) error {
	in, err := c.Inspect(ctx)
	if err != nil {
		return err
	}
	url := "http://" + in.NetworkSettings.Networks[o.net.Name()].IPAddress + ":8080/"
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(o.readyTimeout)
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(b)) == version {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return last
}

// list returns the running replicas, oldest first.
func (o *orchestrator) list(ctx context.Context) ([]*hull.Container, error) {
	cs, err := o.rt.Containers(ctx, hull.WithFilterLabel(labelService, service))
	slices.Reverse(cs)
	return cs, err
}

// nextIndex is one more than the highest index of any replica, running
// or not, and of those this process started: a name is never reused.
func (o *orchestrator) nextIndex(ctx context.Context) (int, error) {
	cs, err := o.rt.Containers(ctx, hull.WithAllContainers(), hull.WithFilterLabel(labelService, service))
	if err != nil {
		return 0, err
	}
	for _, c := range cs {
		i, _ := strconv.Atoi(labels(ctx, c)[labelIndex])
		o.lastIndex = max(o.lastIndex, i)
	}
	o.lastIndex++
	return o.lastIndex, nil
}

// report prints the replicas and asks the service, by its name on the
// network, which version answers.
func (o *orchestrator) report(ctx context.Context, what string) error {
	cs, err := o.list(ctx)
	if err != nil {
		return err
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name()+" ("+labels(ctx, c)[labelVersion]+")")
	}
	say(what, "%d replicas: %s", len(cs), strings.Join(names, ", "))

	var out bytes.Buffer
	client, err := o.rt.Run(ctx, service+":v1", hull.WithNetwork(o.net),
		hull.WithStdout(&out), hull.WithStderr(&out), hull.WithCmd("wget", "-qO-", "http://"+service+":8080/"))
	if err != nil {
		return err
	}
	defer client.Remove(ctx)
	if _, err := client.Wait(ctx); err != nil {
		return err
	}
	say("client", "GET http://%s:8080/ on %s: %q", service, o.net.Name(), strings.TrimSpace(out.String()))
	return nil
}

// down removes the replicas, the network and the images.
func (o *orchestrator) down(ctx context.Context) error {
	cs, err := o.rt.Containers(ctx, hull.WithAllContainers(), hull.WithFilterLabel(labelService, service))
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Remove(ctx, hull.WithForce()))
	}
	if net, err := o.rt.Network(ctx, service+"-net"); err == nil {
		errs = append(errs, net.Remove(ctx))
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		_, err := o.rt.RemoveImage(ctx, service+":"+v)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	say("down", "removed %d replicas, the network %s-net and the images", len(cs), service)
	return nil
}

func labels(ctx context.Context, c *hull.Container) map[string]string {
	in, err := c.Inspect(ctx)
	if err != nil {
		return nil
	}
	return in.Config.Labels
}

// makeImages imports app:v1, v2 and v3 from a busybox root filesystem.
// Each serves its version on port 8080, except v3 from its second replica
// on (ORDINAL 2), whose page is missing: it fails the readiness check,
// like a release whose bug shows only once it takes some of the load.
func makeImages(ctx context.Context, rt *hull.Runtime) error {
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("%w (apt-get install busybox-static)", err)
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		env := []string{"PATH=/bin", "VERSION=" + v, "BREAKS_AT=999"}
		if v == "v3" {
			env[2] = "BREAKS_AT=2"
		}
		_, err := rt.Import(ctx, busyboxRootfs(bin), service+":"+v, hull.WithImportConfig(ocispec.ImageConfig{
			Env: env,
			Cmd: []string{"sh", "-c", `mkdir -p /www && { [ "${ORDINAL:-1}" -ge "$BREAKS_AT" ] || echo $VERSION > /www/index.html; } && exec httpd -f -p 8080 -h /www`},
		}))
		if err != nil {
			return err
		}
	}
	say("images", "%s:v1, %s:v2 and %s:v3 (v3's second replica serves no page)", service, service, service)
	return nil
}

func busyboxRootfs(bin []byte) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "etc/", "proc/", "sys/", "dev/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin))})
	tw.Write(bin)
	for _, a := range []string{"sh", "mkdir", "echo", "httpd", "wget", "["} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	tw.Close()
	return &buf
}

func say(what, format string, args ...any) {
	fmt.Printf("%-9s %s\n", what, fmt.Sprintf(format, args...))
}
