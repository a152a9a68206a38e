// Package imagearchive reads and writes the files of an image archive,
// the tar that `docker save` writes and `docker load` reads. Docker 25
// and later write two layouts over one set of blobs:
//
//	oci-layout              {"imageLayoutVersion":"1.0.0"}
//	index.json              OCI index: one entry per image and name
//	manifest.json           docker save: [{Config, RepoTags, Layers}]
//	blobs/sha256/<hex>      manifests, configs and layer blobs, once each
//
// Older docker save archives and skopeo's docker-archive name their files
// freely (<id>/layer.tar, <hex>.json, <hex>.tar) and may link one name to
// another; manifest.json says which file is what.
//
// The package knows the layouts' files, their limits and how to stage an
// archive's content into the content store (Stage); which images a load
// keeps, under which tags, and how a save chooses its images stay with
// the caller (package hull). Archives are hostile until verified: names
// are cleaned and kept inside the archive, blobs must hash to their
// names, metadata is bounded. Refusals wrap ErrInvalid or ErrUnsupported,
// which hull maps to its own sentinels.
package imagearchive
