//go:build linux

package hull

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// jsonAt walks v (decoded JSON) along keys: object keys, or indexes of
// arrays. It returns nil where the path does not exist.
func jsonAt(v any, keys ...string) any {
	for _, k := range keys {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// asJSON marshals v and decodes it again, as `docker inspect | jq` sees it.
func asJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestInspectDockerJSON marshals the Inspect of a real container, volume,
// network and image and checks the keys that scripts written for `docker
// inspect | jq` use: Docker's names and nesting.
func TestInspectDockerJSON(t *testing.T) {
	rt := netTest(t)
	ctx := t.Context()
	n, err := rt.CreateNetwork(ctx, "jsonnet", WithSubnet("10.93.0.0/24"), WithNetworkLabels(map[string]string{"k": "v"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Remove(context.Background()) }) // t.Context() has ended by then
	v, err := rt.CreateVolume(ctx, "jsonvol", WithVolumeLabels(map[string]string{"k": "v"}))
	if err != nil {
		t.Fatal(err)
	}
	c := runBG(t, rt, nil, WithName("jsonc"), WithNetwork(n, WithIP("10.93.0.5")), WithVolume(v, "/data"),
		WithPublish("127.0.0.1:18931:8080"), WithMemory(64<<20), WithLabels(map[string]string{"k": "v"}),
		WithCmd("sleep", "60"))

	ctr := asJSON(t, inspect(t, c))
	img, err := rt.Image(ctx, "busybox:test")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		path []string
		want any
	}{
		{[]string{"Id"}, c.ID()},
		{[]string{"Name"}, "/jsonc"},
		{[]string{"Image"}, img.ID()},
		{[]string{"Path"}, "sleep"},
		{[]string{"Args", "0"}, "60"},
		{[]string{"State", "Status"}, "running"},
		{[]string{"State", "Running"}, true},
		{[]string{"State", "ExitCode"}, float64(0)},
		{[]string{"Config", "Image"}, "busybox:test"},
		{[]string{"Config", "Hostname"}, c.ID()[:12]},
		{[]string{"Config", "Tty"}, false},
		{[]string{"Config", "Cmd", "0"}, "sleep"},
		{[]string{"Config", "Labels", "k"}, "v"},
		{[]string{"HostConfig", "NetworkMode"}, "bridge"},
		{[]string{"HostConfig", "Memory"}, float64(64 << 20)},
		{[]string{"Mounts", "0", "Type"}, "volume"},
		{[]string{"Mounts", "0", "Name"}, "jsonvol"},
		{[]string{"Mounts", "0", "Destination"}, "/data"},
		{[]string{"Mounts", "0", "RW"}, true},
		{[]string{"NetworkSettings", "Networks", "jsonnet", "IPAddress"}, "10.93.0.5"},
		{[]string{"NetworkSettings", "Networks", "jsonnet", "NetworkID"}, n.ID()},
		{[]string{"NetworkSettings", "Ports", "8080/tcp", "0", "HostIp"}, "127.0.0.1"},
		{[]string{"NetworkSettings", "Ports", "8080/tcp", "0", "HostPort"}, "18931"},
	}
	for _, w := range want {
		if got := jsonAt(ctr, w.path...); got != w.want {
			t.Errorf("container .%s = %#v, want %#v", strings.Join(w.path, "."), got, w.want)
		}
	}
	for _, k := range []string{"Created", "State.Pid", "State.StartedAt", "State.FinishedAt", "State.OOMKilled", "HostConfig.PidsLimit", "Config.Env", "Config.WorkingDir", "Mounts.0.Source"} {
		if jsonAt(ctr, strings.Split(k, ".")...) == nil {
			t.Errorf("container .%s missing", k)
		}
	}
	for _, k := range []string{"ID", "Hostname", "Labels", "Memory", "ImageDigest"} {
		if _, ok := ctr[k]; ok {
			t.Errorf("container has a top-level %q that docker inspect has not", k)
		}
	}

	vol := asJSON(t, inspect(t, v))
	for k, want := range map[string]any{"Name": "jsonvol", "Driver": "local", "Mountpoint": v.Mountpoint(), "Scope": "local"} {
		if vol[k] != want {
			t.Errorf("volume .%s = %#v, want %#v", k, vol[k], want)
		}
	}
	if jsonAt(vol, "Labels", "k") != "v" || vol["CreatedAt"] == nil || vol["Options"] == nil {
		t.Errorf("volume %v", vol)
	}

	net := asJSON(t, inspect(t, n))
	for k, want := range map[string]any{"Name": "jsonnet", "Id": n.ID(), "Driver": "bridge", "Scope": "local", "Internal": false} {
		if net[k] != want {
			t.Errorf("network .%s = %#v, want %#v", k, net[k], want)
		}
	}
	if got := jsonAt(net, "IPAM", "Config", "0", "Subnet"); got != "10.93.0.0/24" {
		t.Errorf("network .IPAM.Config[0].Subnet = %v", got)
	}
	if got := jsonAt(net, "Containers", c.ID(), "IPv4Address"); got != "10.93.0.5/24" {
		t.Errorf("network .Containers[id].IPv4Address = %v", got)
	}
	if jsonAt(net, "Labels", "k") != "v" || jsonAt(net, "Options", "com.docker.network.bridge.name") == nil || net["Created"] == nil {
		t.Errorf("network %v", net)
	}

	im := asJSON(t, inspect(t, img))
	if im["Id"] != img.ID() || jsonAt(im, "RootFS", "Type") != "layers" || im["Os"] != "linux" || jsonAt(im, "Config", "Cmd", "0") != "sh" {
		t.Errorf("image %v", im)
	}
}
