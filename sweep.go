package hull

// SweepReport is what Runtime.Sweep removed from the host.
type SweepReport struct {
	// RootsSwept are the paths of the gone roots whose objects were
	// removed.
	RootsSwept []string
	// ContainersDeleted are the IDs of the containers whose cgroups (and
	// processes) were removed.
	ContainersDeleted []string
	// BridgesDeleted are the network bridge devices deleted.
	BridgesDeleted []string
}
