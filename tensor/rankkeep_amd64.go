//go:build amd64 && gc && !purego

package tensor

import "golang.org/x/sys/cpu"

// useRankKeepAVX512 selects rankKeepAVX512, which needs AVX-512 F, CD
// (VPCONFLICTD) and VPOPCNTDQ (VPOPCNTD).
var useRankKeepAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512CD && cpu.X86.HasAVX512VPOPCNTDQ

// rankKeepAVX512 walks 16 elements at a time: VPCONFLICTD and VPOPCNTD
// count, for every lane, the earlier lanes with the same key, which added
// to next[k] (VPGATHERDD) gives its rank; the limits are gathered by rank
// and compared with the draws (VPCMPUD), and next[k] = rank+1 is
// scattered back (VPSCATTERDD writes overlapping lanes from the lowest to
// the highest, so the highest rank of each key lands last). len(x) is a
// multiple of 16.
//
//go:noescape
func rankKeepAVX512(x []float32, draws *uint32, next *int32, limits *uint32, keep *uint16)

func rankKeep(x []float32, draws []uint32, next *[BF16Keys]int32, limits []uint32, keep []uint16) {
	n := 0
	if useRankKeepAVX512 && len(x) >= 16 {
		n = len(x) &^ 15
		rankKeepAVX512(x[:n], &draws[0], &next[0], &limits[0], &keep[0])
	}
	rankKeepGeneric(x[n:], draws[n:], next, limits, keep[n/16:])
}
