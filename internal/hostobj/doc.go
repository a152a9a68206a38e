// Package hostobj records, host-wide, which state root owns each object
// hull makes outside its root (container cgroups and processes, bridges,
// host veths, nftables rules), so that any process can remove the
// objects of a root that is gone: a test's temporary root deleted after
// its process was SIGKILLed, whose own Open can never run again.
//
// # The registry
//
// It lives in /run (Dir, /run/hull/roots), tmpfs on most hosts, so that it
// vanishes at boot as cgroups, links and rules do; where /run is not
// tmpfs, each entry names its boot, and one of another boot is dropped
// (by a sweep if its root is gone, else by the root's next Open) without
// touching anything. One directory holds each root as one process found
// it:
//
//	/run/hull/roots/.lock              flock: a sweep holds it (exclusive)
//	/run/hull/roots/<key>/root.json    {path, dev, ino, birth, mntns, boot}
//	/run/hull/roots/<key>/c.<id>       a container: its netns ("net <ino>")
//	/run/hull/roots/<key>/n.<id>       a network: "<bridge> <netns ino>"
//
// key is 16 hex digits of sha256(path, dev, ino, birth time): a root
// deleted and made again at the same path is another root, with another
// entry, even where the file system gives it the inode back. Every file
// is written atomically (fsutil.WriteFileAtomic), and before the object
// it names is made (Root.Container before the cgroup,
// Root.Network before the bridge): a crash in between leaves a record of
// nothing, never an object without a record. Removing a container or
// network drops its record (Root.Forget...).
//
// Names of the objects themselves: a container's cgroup is "/hull/<id>" in
// every hierarchy (internal/cgroup), its host veths "hv"+id[:9]+n, its
// published-port rules carry "hull ctr <tag>:<id> ..." and a bridge's
// rules "hull br <tag>:<bridge>", where tag is 8 hex digits of
// sha256(root path) (the root package's ruleOwner); a bridge's device
// carries its network's ID as its alias.
//
// # The sweep
//
// Sweep removes the objects of every recorded root that is gone: its path
// missing, or holding another directory (another dev, inode or birth). A
// root that exists is never touched, whoever owns it: its own Open
// recovers it.
// Judging "gone" needs the recorder's view of paths: an entry made in
// another mount namespace that still has processes other than hull's
// shims (a service with PrivateTmp) is left alone; once none is left, it is judged from the
// sweeper's view. For a gone root it kills what runs in its containers'
// cgroups (Detached ones too: without a root they cannot be managed any
// more) and their shims, removes the cgroups, then, in the network
// namespace each object was made in (entered if another process still
// has it; if none has, its objects died with it), its rules, host veths
// and bridges (the bridge's route goes with the device); then it lazily
// unmounts anything still mounted below the root's path (hull mounts
// nothing in the host's mount namespace itself), and drops the entry.
// What fails stays recorded, for the next sweep.
//
// Objects no entry names but clearly hull's (made by a hull from before
// this registry) are judged conservatively, by an explicit sweep only
// (Options.Unrecorded): a cgroup "/hull/<64 hex>" with no process in it
// and older than a minute is removed; everything else (cgroups with
// processes, rules, links) is left.
package hostobj
