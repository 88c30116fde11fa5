// Package hub fetches models from the Hugging Face Hub into the cache layout
// that huggingface_hub (and so transformers, PEFT, vLLM and mergekit) uses, so
// that a model downloaded by one tool is reused by the others.
//
// The cache lives in $HF_HUB_CACHE, by default $HF_HOME/hub, by default
// ~/.cache/huggingface/hub. Each repository has a folder
//
//	models--ORG--NAME/
//	  blobs/ETAG                        file contents, named by the hub's ETag:
//	                                    the sha256 of an LFS file, the git blob
//	                                    sha1 of any other file
//	  snapshots/COMMIT/FILE -> ../../blobs/ETAG
//	  refs/REVISION                     the commit a branch or tag pointed at
//
// [Client.Resolve] returns a snapshot directory holding the files a merge
// needs, downloading only what is missing: resumable (HTTP Range on
// blobs/ETAG.incomplete), verified against the hub's sha256 or git sha1, and
// moved into blobs/ atomically, so an interrupted or corrupted download never
// leaves a file that looks complete. In offline mode (HF_HUB_OFFLINE) it uses
// the cache only. A commit hash that is cached needs no request; for a
// branch or tag with a cached snapshot the hub is asked once, for at most
// HF_HUB_ETAG_TIMEOUT (10 s), and the snapshot is used if it does not
// answer.
//
// [Client.Inspect] learns a model's config and every tensor's name, dtype,
// shape and size without downloading weights: it reads each safetensors
// header through a [RemoteFile], an [io.ReaderAt] over HTTP range requests.
//
// Package hubtest provides a fake hub for tests; nothing in this package's
// tests touches the network.
package hub
