//go:build unix && !linux

package safetensors

// mapPopulate is 0 where mmap has no MAP_POPULATE.
const mapPopulate = 0
