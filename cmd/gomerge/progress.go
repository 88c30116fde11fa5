package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress draws a one-line byte progress bar on a terminal.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, start: time.Now()}
}

func (p *progress) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	const width = 30
	n := int(frac * width)
	rate := float64(done) / max(now.Sub(p.start).Seconds(), 1e-9) / 1e6
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %.2f/%.2f GB %.0f MB/s", strings.Repeat("#", n), strings.Repeat(" ", width-n),
		frac*100, float64(done)/1e9, float64(total)/1e9, rate)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.last.IsZero() {
		fmt.Fprintln(p.w)
	}
}
