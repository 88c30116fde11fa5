//go:build amd64 && gc && !purego

package tensor

func addElectedRoundBF16(num, den, x, sum []float32, q float32) {
	if useAVX2 {
		n := len(num) &^ 7
		addElectedRoundBF16AVX2(num[:n], den[:n], x[:n], sum[:n], q)
		num, den, x, sum = num[n:], den[n:], x[n:], sum[n:]
	}
	addElectedRoundBF16Generic(num, den, x, sum, q)
}

func divMaxAddRoundBF16(out, base, num, den []float32, eps float32) {
	if useAVX2 {
		n := len(out) &^ 7
		divMaxAddRoundBF16AVX2(out[:n], base[:n], num[:n], den[:n], eps)
		out, base, num, den = out[n:], base[n:], num[n:], den[n:]
	}
	divMaxAddRoundBF16Generic(out, base, num, den, eps)
}

// addElectedRoundBF16AVX2 is addElectedRoundBF16Generic on eight lanes:
// the same comparisons as VCMPPS (x != 0 unordered, x > 0 and sum ≥ 0
// ordered), the product rounded as roundBF16Generic does, and +0 added
// where the sign is not elected.
//
//go:noescape
func addElectedRoundBF16AVX2(num, den, x, sum []float32, q float32)

// divMaxAddRoundBF16AVX2 is divMaxAddRoundBF16Generic on eight lanes;
// VMAXPS returns its second source, r(den), when that is a NaN, as Go's
// max does.
//
//go:noescape
func divMaxAddRoundBF16AVX2(out, base, num, den []float32, eps float32)
