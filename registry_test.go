package hull

import "testing"

func TestPlainHTTPOnlyForLoopbackAndInsecure(t *testing.T) {
	t.Parallel()
	rt := &Runtime{cfg: runtimeConfig{insecure: map[string]bool{"registry.lan:5000": true, "mirror.lan": true}}}
	tests := map[string]bool{
		"localhost":         true,
		"localhost:5000":    true,
		"127.0.0.1:5000":    true,
		"127.1.2.3":         true,
		"[::1]:5000":        true,
		"registry.lan:5000": true,
		"registry.lan:5001": false,
		"mirror.lan:443":    true, // host named without a port: every port
		"docker.io":         false,
		"ghcr.io":           false,
		"10.0.0.1:5000":     false,
		"localhost.evil.io": false,
	}
	for host, want := range tests {
		if got := rt.plainHTTP(host); got != want {
			t.Errorf("plainHTTP(%q) = %v, want %v", host, got, want)
		}
	}
	if h := registryHost("docker.io"); h != "registry-1.docker.io" {
		t.Errorf("registryHost(docker.io) = %q", h)
	}
}
