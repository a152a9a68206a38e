//go:build linux

package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullbox/hull/compose"
)

// composeBench is the project of BenchmarkCompose: 5 services, 2 of them
// with a health check the others wait for, one network, one volume.
// SIGKILL stops them at once (sink, as PID 1, ignores SIGTERM), so that
// down measures the tool, not a stop timeout.
const composeBench = `
services:
  db:
    image: busybox:bench
    command: ["sink"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "true"]
      interval: 100ms
      timeout: 2s
      retries: 3
    volumes: [data:/data]
    networks: [back]
  cache:
    image: busybox:bench
    command: ["sink"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "true"]
      interval: 100ms
      timeout: 2s
      retries: 3
    networks: [back]
  api:
    image: busybox:bench
    command: ["sink"]
    stop_signal: SIGKILL
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_healthy}
    networks: [back]
  worker:
    image: busybox:bench
    command: ["sink"]
    stop_signal: SIGKILL
    depends_on:
      db: {condition: service_healthy}
    networks: [back]
  web:
    image: busybox:bench
    command: ["sink"]
    stop_signal: SIGKILL
    depends_on: [api]
    networks: [back]
networks:
  back: {}
volumes:
  data: {}
`

// composeDir writes composeBench into a fresh directory, removed after b.
func composeDir(b *testing.B) string {
	b.Helper()
	dir := freshDir(b)
	b.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(composeBench), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkCompose times up -d --wait (every container started, the two
// health-checked ones healthy) then down -v of composeBench: hull's
// library (Up with WithDetached and WithWait, Down), hull's CLI, and the
// compose tools installed here on the private dockerd and podman: docker
// compose v2 (up -d --wait) when its plugin is there, docker-compose v1.
// docker-compose v1 has no --wait: its up -d waits for the health of db
// and cache itself (api and worker depend on it). podman-compose 1.0 runs
// no health checks without systemd and ignores conditions: it is timed
// for up -d and down only (reported as podman-compose-nohealth).
func BenchmarkCompose(b *testing.B) {
	tarball := busyboxTar(b)

	b.Run("hull", func(b *testing.B) {
		rt := hullBusybox(b, tarball)
		dir := composeDir(b)
		ctx := context.Background()
		p, err := compose.Load(ctx, compose.WithWorkingDir(dir), compose.WithFiles(filepath.Join(dir, "compose.yaml")),
			compose.WithProjectName("bench"), compose.WithEnvironment())
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := p.Up(ctx, rt, compose.WithDetached(), compose.WithWait()); err != nil {
				b.Fatal(err)
			}
			if err := p.Down(ctx, rt, compose.WithRemoveVolumes()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hull-cli", func(b *testing.B) {
		cli := hullCLI(b)
		root := freshDir(b)
		b.Cleanup(func() { os.RemoveAll(root) })
		run(b, cli, "--root", root, "load", "--quiet", "--input", savedBusybox(b, tarball))
		file := filepath.Join(composeDir(b), "compose.yaml")
		for b.Loop() {
			run(b, cli, "--root", root, "compose", "-f", file, "-p", "bench", "up", "-d", "--wait")
			run(b, cli, "--root", root, "compose", "-f", file, "-p", "bench", "down", "-v")
		}
	})
	b.Run("docker-compose-v2", func(b *testing.B) {
		if exec.Command("docker", "compose", "version").Run() != nil {
			b.Skip("docker compose (v2 plugin) not installed")
		}
		needDocker(b)
		dockerBusybox(b, tarball)
		file := filepath.Join(composeDir(b), "compose.yaml")
		for b.Loop() {
			run(b, "docker", "compose", "-f", file, "-p", "bench", "up", "-d", "--wait")
			run(b, "docker", "compose", "-f", file, "-p", "bench", "down", "-v")
		}
	})
	b.Run("docker-compose", func(b *testing.B) {
		need(b, "docker-compose")
		needDocker(b)
		dockerBusybox(b, tarball)
		file := filepath.Join(composeDir(b), "compose.yaml")
		for b.Loop() {
			run(b, "docker-compose", "-f", file, "-p", "bench", "up", "-d")
			dockerWaitHealthy(b, "bench_db_1", "bench_cache_1")
			run(b, "docker-compose", "-f", file, "-p", "bench", "down", "-v")
		}
	})
	b.Run("podman-compose-nohealth", func(b *testing.B) {
		need(b, "podman-compose")
		p := needPodman(b, tarball)
		file := filepath.Join(composeDir(b), "compose.yaml")
		args := []string{"--podman-args", strings.Join(p.global, " "), "-f", file, "-p", "bench"}
		for b.Loop() {
			run(b, "podman-compose", append(args, "up", "-d")...)
			run(b, "podman-compose", append(args, "down", "-v")...)
		}
	})
}

// dockerWaitHealthy polls docker until the containers are healthy.
func dockerWaitHealthy(b *testing.B, names ...string) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range names {
		for {
			out, err := exec.Command("docker", "inspect", "-f", "{{.State.Health.Status}}", n).Output()
			if err == nil && strings.TrimSpace(string(out)) == "healthy" {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s not healthy after 30 s: %s %v", n, out, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
