// Package compaction will keep floe's tables fast to read and cheap to
// commit to: bin-packing small data files, expiring snapshots, removing
// orphan files and merging manifests (issue 5).
//
// Nothing enters or leaves it yet: it is an empty placeholder so the
// repository has the layout the design asks for. `floe` does not compact.
package compaction
