package archive

// Union is the merged view of overlayfs layer directories, top first.
type Union struct{ Layers []string }
