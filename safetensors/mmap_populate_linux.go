package safetensors

import "golang.org/x/sys/unix"

// mapPopulate asks mmap to fill the mapping's page tables at once.
const mapPopulate = unix.MAP_POPULATE
