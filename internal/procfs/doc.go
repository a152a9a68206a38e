// Package procfs reads what hull reports of host processes from /proc
// (a process's stat, status and cmdline; the boot time) and the host's
// /etc/passwd names, as ps does for `docker top`, and the host's CPU time,
// CPUs and memory that `docker stats` sets a container's figures against.
package procfs
