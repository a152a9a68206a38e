package archive

// ChangeKind is what happened to a path, as `docker diff` prints it.
type ChangeKind int

// The kinds of change.
const (
	Modified ChangeKind = iota // "C"
	Added                      // "A"
	Deleted                    // "D"
)

// Change is one path changed by an upper layer, absolute ("/etc/passwd").
type Change struct {
	Kind ChangeKind
	Path string
}

// String returns the letter `docker diff` prints: C, A or D.
func (k ChangeKind) String() string { return [...]string{"C", "A", "D"}[k] }
