package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/automerge"
	"github.com/gomerge/gomerge/automerge/leaderboard"
)

const leaderboardUsage = `usage: gomerge leaderboard --state DIR [--json] [--html FILE] [--plot FILE.png]

Show the ranking of gomerge automerge's runs in DIR/leaderboard.db: a table
on the terminal (best score first, then failed and interrupted runs), or
every run with its scores as JSON. --html writes a self-contained page (a
sortable table, each child's recipe and lineage, the plot embedded);
--plot writes the plot alone as a PNG: score per run, best so far, one
colour per method (runs scored on an older task set are ranked apart and
left out of the plot). The database is only read, so this runs while
automerge does.

examples:
  gomerge leaderboard --state /var/lib/automerge
  gomerge leaderboard --state ./am --html board.html --plot board.png
`

func runLeaderboard(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gomerge leaderboard", flag.ContinueOnError)
	setUsage(fs, stderr, leaderboardUsage)
	var state, htmlOut, plotOut string
	var jsonOut bool
	var verbose counter
	fs.StringVar(&state, "state", "", "automerge state DIR (required)")
	fs.BoolVar(&jsonOut, "json", false, "print every run, with its scores and model, as JSON")
	fs.StringVar(&htmlOut, "html", "", "write a self-contained HTML page to FILE")
	fs.StringVar(&plotOut, "plot", "", "write the plot to FILE.png")
	verbosity(fs, &verbose)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) > 0 || state == "" {
		fs.Usage()
		return exitUsage
	}
	path := filepath.Join(state, automerge.DBFile)
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(stderr, "gomerge: %s: no leaderboard (run gomerge automerge --state %s first)\n", path, state)
		return exitUsage
	}
	db, err := leaderboard.OpenReadOnly(ctx, path)
	if err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitFailed
	}
	defer db.Close()
	runs, err := db.Runs(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitFailed
	}
	if htmlOut != "" {
		var buf bytes.Buffer
		title := "gomerge automerge leaderboard: " + filepath.Base(filepath.Clean(state))
		if err := leaderboard.WriteHTML(&buf, title, runs); err != nil {
			fmt.Fprintln(stderr, "gomerge: html:", err)
			return exitFailed
		}
		if err := writeFileAtomic(htmlOut, buf.Bytes()); err != nil {
			fmt.Fprintln(stderr, "gomerge:", err)
			return exitFailed
		}
	}
	if plotOut != "" {
		png, err := leaderboard.PNG(runs)
		if err == nil {
			err = writeFileAtomic(plotOut, png)
		}
		if err != nil {
			fmt.Fprintln(stderr, "gomerge: plot:", err)
			return exitFailed
		}
	}
	if jsonOut {
		if runs == nil {
			runs = []leaderboard.Run{}
		}
		printJSON(stdout, runs)
		return exitOK
	}
	if htmlOut == "" && plotOut == "" || isTerminal(stdout) {
		if err := leaderboard.WriteTable(stdout, runs); err != nil {
			return exitFailed
		}
	}
	return exitOK
}

// writeFileAtomic writes a report file through a temporary file renamed
// into place, so that a page being served is never seen half-written.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
