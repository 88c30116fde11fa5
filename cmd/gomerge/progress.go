package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progress draws a one-line progress bar on a terminal: fraction, amount,
// rate and the time left at that rate. finish ends the line, so the next
// message starts on its own.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	start    time.Time
	last     time.Time
	finished bool
	line     string // the bar as last drawn
	// unit formats an amount and a rate: bytes (GB, MB/s) by default.
	unit func(done, total int64, perSec float64) string
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, start: time.Now(), unit: bytesUnit}
}

// newCountProgress counts items named noun ("requests") instead of bytes.
func newCountProgress(w io.Writer, label, noun string) *progress {
	p := newProgress(w)
	p.unit = func(done, total int64, perSec float64) string {
		return fmt.Sprintf("%s %d/%d %s %.1f/s", label, done, total, noun, perSec)
	}
	return p
}

func bytesUnit(done, total int64, perSec float64) string {
	return fmt.Sprintf("%.2f/%.2f GB %.0f MB/s", float64(done)/1e9, float64(total)/1e9, perSec/1e6)
}

func (p *progress) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.finished || done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	p.line = progressLine(done, total, now.Sub(p.start), p.unit)
	fmt.Fprintf(p.w, "\r%s\x1b[K", p.line)
	if done >= total {
		// Done: end the line now, so that what is logged before finish
		// (the tokenizer and special-token steps) starts on its own.
		fmt.Fprintln(p.w)
		p.finished = true
	}
}

// writeAbove writes b (whole log lines) above the bar: the bar's line is
// cleared, b written, and the bar drawn again below it.
func (p *progress) writeAbove(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last.IsZero() || p.finished {
		return p.w.Write(b)
	}
	fmt.Fprint(p.w, "\r\x1b[K")
	n, err := p.w.Write(b)
	fmt.Fprintf(p.w, "\r%s\x1b[K", p.line)
	return n, err
}

// barWriter is the log's writer: lines go above the progress bar once
// one is drawn, never onto its line.
type barWriter struct {
	w   io.Writer
	bar atomic.Pointer[progress]
}

func (b *barWriter) Write(p []byte) (int, error) {
	if bar := b.bar.Load(); bar != nil {
		return bar.writeAbove(p)
	}
	return b.w.Write(p)
}

// progressLine is the bar's text after elapsed time.
func progressLine(done, total int64, elapsed time.Duration, unit func(done, total int64, perSec float64) string) string {
	frac := 1.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	const width = 30
	n := int(frac * width)
	secs := max(elapsed.Seconds(), 1e-9)
	line := fmt.Sprintf("[%s%s] %3.0f%% %s", strings.Repeat("#", n), strings.Repeat(" ", width-n), frac*100,
		unit(done, total, float64(done)/secs))
	switch {
	case done >= total:
		line += " in " + shortDuration(elapsed)
	case done > 0:
		left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
		line += " ETA " + shortDuration(left)
	}
	return line
}

// shortDuration prints 42s, 3m05s or 2h04m.
func shortDuration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}

// finish ends the bar's line once; later updates draw nothing.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.last.IsZero() && !p.finished {
		fmt.Fprintln(p.w)
	}
	p.finished = true
}
