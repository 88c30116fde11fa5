package cuda

import "testing"

// TestAttnTiles checks gm_attention's tile sizes for every head size it
// accepts: the shared memory fits a launch that has not opted in to more
// (48 KiB), each thread's output elements fit its ATTN_PER_THREAD
// registers, and the tiles are not empty.
func TestAttnTiles(t *testing.T) {
	for hd := 1; hd <= maxHeadDim; hd++ {
		bq, bk, shared := attnTiles(hd)
		if bq < 1 || bk < 1 || shared > 48<<10 || bq*hd > attnPerThread*fwdBlock {
			t.Errorf("head size %d: tiles of %d queries and %d keys, %d bytes of shared memory", hd, bq, bk, shared)
		}
	}
}
