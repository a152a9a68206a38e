package fsutil

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"
)

// scannedAttr is the extended attribute where RecordScanned keeps the
// modification time a directory had when a scan of it found nothing.
const scannedAttr = "user.hull.scanned"

// scanMargin is how much older than the scan's start a directory's
// modification time must be for RecordScanned to record it: more than the
// filesystem clock's tick (a jiffy), so that an entry made after the
// scan started can never leave the time as it was.
const scanMargin = 50 * time.Millisecond

// DirStamp is a directory's modification time as StatScanned saw it,
// with the time it looked.
type DirStamp struct {
	mtime int64 // nanoseconds; 0: unknown
	at    time.Time
}

// StatScanned stats directory dir before a scan of its entries and
// reports whether the scan can be skipped: a scan that found nothing
// recorded (RecordScanned) the modification time dir still has, so no
// entry was made or removed since. It reports false when it cannot tell
// (no such attribute, a filesystem without user attributes).
func StatScanned(dir string) (DirStamp, bool) {
	at := time.Now()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return DirStamp{}, false
	}
	s := DirStamp{mtime: st.Mtim.Nano(), at: at}
	var rec [8]byte
	n, err := unix.Getxattr(dir, scannedAttr, rec[:])
	return s, err == nil && n == len(rec) && int64(binary.LittleEndian.Uint64(rec[:])) == s.mtime
}

// RecordScanned records that a scan of dir, begun with StatScanned's s,
// found nothing, so that the next StatScanned can skip the next scan
// while dir is unchanged. It records nothing when dir changed within
// scanMargin of the scan's start (an entry made meanwhile could share
// its modification time), nor when the time has no sub-second part: a
// filesystem with whole-second (or coarser) times (ext4 with small
// inodes, FAT, some NFS servers) can give an entry made after the scan
// the time the directory already had. Failing to record is not an
// error. Setting the attribute does not change the directory's
// modification time.
func RecordScanned(dir string, s DirStamp) {
	if s.mtime == 0 || s.mtime%int64(time.Second) == 0 || s.at.UnixNano()-s.mtime < int64(scanMargin) {
		return
	}
	var rec [8]byte
	binary.LittleEndian.PutUint64(rec[:], uint64(s.mtime))
	_ = unix.Setxattr(dir, scannedAttr, rec[:], 0)
}
