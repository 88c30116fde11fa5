//go:build !unix

package merge

// cpuSeconds is unknown here.
func cpuSeconds() float64 { return -1 }
