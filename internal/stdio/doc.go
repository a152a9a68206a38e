// Package stdio is the owning process's side of a container's standard
// streams when no shim holds them: the log writer that every byte of
// output goes through, tee'd to the embedder's writers and to attached
// clients (internal/attach), the input pipe, and for a terminal the
// master end that the init sends back; and an exec'd process's
// terminal and pipes, with the run of its helper up to the command's exit
// status (exec_linux.go: Exec.Run). What a container gets is hull's
// decision (wireStdio); how it is plumbed is here.
package stdio
