//go:build !linux

package fsutil

// DirStamp is a directory's modification time as StatScanned saw it.
type DirStamp struct{}

// StatScanned reports false: every scan is made.
func StatScanned(string) (DirStamp, bool) { return DirStamp{}, false }

// RecordScanned records nothing here.
func RecordScanned(string, DirStamp) {}
