package hull

// ChangeKind is what happened to a path in a container's filesystem, as `docker diff`
// prints it: String returns "C", "A" or "D".
type ChangeKind int

// The kinds of change.
const (
	ChangeModified ChangeKind = iota // changed, or a directory with changes inside
	ChangeAdded                      // created
	ChangeDeleted                    // removed (a whiteout in a committed layer)
)

// String is the letter docker diff prints: "C", "A" or "D".
func (k ChangeKind) String() string {
	switch k {
	case ChangeAdded:
		return "A"
	case ChangeDeleted:
		return "D"
	}
	return "C"
}

// Change is one path a container changed, relative to its image.
type Change struct {
	Kind ChangeKind // modified, added or deleted
	Path string     // absolute inside the container: "/etc/passwd"
}
