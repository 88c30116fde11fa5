package tokenizer

// mergeTable is an open-addressing hash table from a token pair to its
// merge, faster than a Go map for the millions of lookups of BPE.
type mergeTable struct {
	keys  []uint64
	vals  []mergeValue
	shift uint
}

const emptyPair = ^uint64(0) // ids are < 2^30, so never a real pair

func newMergeTable(n int) *mergeTable {
	size, shift := 16, uint(60)
	for size < 2*n {
		size <<= 1
		shift--
	}
	t := &mergeTable{keys: make([]uint64, size), vals: make([]mergeValue, size), shift: shift}
	for i := range t.keys {
		t.keys[i] = emptyPair
	}
	return t
}

func (t *mergeTable) slot(k uint64) int {
	return int((k * 0x9E3779B97F4A7C15) >> t.shift)
}

// put sets k to v, replacing an earlier value as Rust's HashMap collect does.
func (t *mergeTable) put(k uint64, v mergeValue) {
	mask := len(t.keys) - 1
	for i := t.slot(k); ; i = (i + 1) & mask {
		if t.keys[i] == emptyPair || t.keys[i] == k {
			t.keys[i], t.vals[i] = k, v
			return
		}
	}
}

func (t *mergeTable) get(k uint64) (mergeValue, bool) {
	mask := len(t.keys) - 1
	for i := t.slot(k); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case k:
			return t.vals[i], true
		case emptyPair:
			return mergeValue{}, false
		}
	}
}
