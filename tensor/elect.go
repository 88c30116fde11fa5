package tensor

// AddElectedRound adds to num[j] the product x[j]·q rounded to work, and q
// to den[j], where x[j] is non-zero and its sign is the one elected by
// sum[j] (a sum ≥ 0 elects +, a NaN sum −): SCE's erase step for one
// model. Elsewhere it adds +0 to both, which changes only a −0:
//
//	var p, w float32
//	if v := x[j]; v != 0 && (v > 0) == (sum[j] >= 0) {
//		p, w = RoundScalar(work, v*q), q
//	}
//	num[j] += p
//	den[j] += w
//
// x, sum and den must be at least as long as num.
func AddElectedRound(work DType, num, den, x, sum []float32, q float32) {
	den, x, sum = den[:len(num)], x[:len(num)], sum[:len(num)]
	if work == BF16 {
		addElectedRoundBF16(num, den, x, sum, q)
		return
	}
	for j := range num {
		var p, w float32
		if v := x[j]; v != 0 && (v > 0) == (sum[j] >= 0) {
			p, w = RoundScalar(work, v*q), q
		}
		num[j] += p
		den[j] += w
	}
}

func addElectedRoundBF16Generic(num, den, x, sum []float32, q float32) {
	den, x, sum = den[:len(num)], x[:len(num)], sum[:len(num)]
	for j := range num {
		var p, w float32
		if v := x[j]; v != 0 && (v > 0) == (sum[j] >= 0) {
			p, w = RoundBF16(v*q), q
		}
		num[j] += p
		den[j] += w
	}
}

// DivMaxAddRound writes base + num/max(den, eps) into out, num and den
// rounded to work first and every step after them too:
//
//	out[j] = r(base[j] + r(r(num[j])/max(r(den[j]), eps)))
//
// (SCE's last step). eps must be > 0 (an SIMD maximum of −0 and +0 may
// give either). base, num and den must be at least as long as out.
func DivMaxAddRound(work DType, out, base, num, den []float32, eps float32) {
	base, num, den = base[:len(out)], num[:len(out)], den[:len(out)]
	if work == BF16 {
		divMaxAddRoundBF16(out, base, num, den, eps)
		return
	}
	r := func(v float32) float32 { return RoundScalar(work, v) }
	for j := range out {
		out[j] = r(base[j] + r(r(num[j])/max(r(den[j]), eps)))
	}
}

func divMaxAddRoundBF16Generic(out, base, num, den []float32, eps float32) {
	base, num, den = base[:len(out)], num[:len(out)], den[:len(out)]
	r := RoundBF16
	for j := range out {
		out[j] = r(base[j] + r(r(num[j])/max(r(den[j]), eps)))
	}
}
