package initproc

// CopyUpOption in a bind mount's options marks a volume: before it is
// mounted, an empty volume is filled with what the container's root
// filesystem has at the destination (Docker's copy-up). The init strips it.
const CopyUpOption = "hull.copyup"
