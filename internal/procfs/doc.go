// Package procfs reads what hull reports of host processes from /proc
// (a process's stat, status and cmdline; the boot time) and the host's
// /etc/passwd names, as ps does for `docker top`.
package procfs
