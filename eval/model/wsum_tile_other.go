//go:build !amd64 || !gc || purego

package model

func tileQueries(hd int) int { return 1 }

func wsumTile(acc []float32, accStride int, p []float32, pStride int, v []float32, stride, n, q, hd int) {
	wsumTileGeneric(acc, accStride, p, pStride, v, stride, n, q, hd)
}
