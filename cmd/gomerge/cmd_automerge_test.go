package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomerge/gomerge/automerge"
	"github.com/gomerge/gomerge/automerge/leaderboard"
	"github.com/gomerge/gomerge/internal/outdir"
	"github.com/gomerge/gomerge/internal/storiestest"
)

var automergeFixture = sync.OnceValues(func() (storiestest.Fixture, error) {
	tmp, err := os.MkdirTemp("", "gomerge-automerge-")
	if err != nil {
		return storiestest.Fixture{}, err
	}
	automergeTmp = tmp
	return storiestest.Build(rootDir, tmp)
})

// automergeTmp holds the shared fixture; TestMain removes it.
var automergeTmp string

// automergePool writes the smallest pool form over the stories
// fixture, with the unrelated model among the models.
func automergePool(t *testing.T) string {
	t.Helper()
	fx, err := automergeFixture()
	if err != nil {
		t.Fatalf("stories fixture: %v", err)
	}
	pool := filepath.Join(t.TempDir(), "pool.yml")
	src := fmt.Sprintf(`base: %s              # optional; model_stock and dare_ties use it
models: [%s, %s, %s, %s]
tasks:                     # as in mergekit-evolve: name, metric, weight
  - name: stories_train
    metric: "word_perplexity,none"
    weight: -1.0
`, fx.Base, fx.FT[0], fx.FT[1], fx.FT[2], fx.Unrelated)
	if err := os.WriteFile(pool, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return pool
}

func automergeArgs(pool, state string, extra ...string) []string {
	return append([]string{"--pool", pool, "--state", state, "--task-search-path", filepath.Join(rootDir, "automerge/testdata"),
		"--random-seed", "5"}, extra...)
}

// jsonEvents parses --json output: one event per line, the summary last.
func jsonEvents(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var evs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("--json line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

func openBoard(t *testing.T, state string) (*leaderboard.DB, []leaderboard.Run) {
	t.Helper()
	db, err := leaderboard.Open(context.Background(), filepath.Join(state, automerge.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	runs, err := db.Runs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return db, runs
}

// TestAutomergeCLI runs automerge twice on one state directory, then reads
// the leaderboard back every way: table, JSON, PNG, HTML and the sqlite3
// CLI when installed.
func TestAutomergeCLI(t *testing.T) {
	pool := automergePool(t)
	state := filepath.Join(t.TempDir(), "am")
	for i, n := range []string{"5", "3"} {
		var stdout, stderr bytes.Buffer
		if code := runAutomerge(context.Background(), automergeArgs(pool, state, "--runs", n, "--keep", "2", "--json"), &stdout, &stderr); code != exitOK {
			t.Fatalf("session %d: exit %d\n%s", i, code, stderr.String())
		}
		evs := jsonEvents(t, stdout.Bytes())
		last := evs[len(evs)-1]
		if last["event"] != "summary" || fmt.Sprint(last["done"].(float64)+last["failed"].(float64)) != n {
			t.Errorf("session %d: last line %v", i, last)
		}
		if evs[0]["event"] != "session_start" {
			t.Errorf("first event %v", evs[0])
		}
	}
	_, runs := openBoard(t, state)
	if len(runs) != 8 {
		t.Fatalf("%d runs recorded, want 8", len(runs))
	}
	card, err := os.ReadFile(filepath.Join(runs[0].Model.Path, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"license: apache-2.0", "- lazymergekit", "- automerger", "## 🧩 Configuration", "```yaml\nmerge_method: " + runs[0].Method,
		"| stories_train | word_perplexity,none |", "## 💻 Usage", runs[0].Name + " is an automated merge"} {
		if !strings.Contains(string(card), want) {
			t.Errorf("card lacks %q:\n%s", want, card)
		}
	}

	var stdout, stderr bytes.Buffer
	if code := runLeaderboard(context.Background(), []string{"--state", state}, &stdout, &stderr); code != exitOK {
		t.Fatalf("leaderboard: exit %d: %s", code, stderr.String())
	}
	table := stdout.String()
	if !strings.HasPrefix(table, "RANK") || strings.Count(table, "\n") != 9 || !strings.Contains(table, runs[0].Name) {
		t.Errorf("table:\n%s", table)
	}
	stdout.Reset()
	if code := runLeaderboard(context.Background(), []string{"--state", state, "--json"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("leaderboard --json: exit %d: %s", code, stderr.String())
	}
	var got []leaderboard.Run
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil || len(got) != 8 || got[0].Name != runs[0].Name {
		t.Errorf("--json: %v, %d runs", err, len(got))
	}

	dir := t.TempDir()
	plotFile, htmlFile := filepath.Join(dir, "board.png"), filepath.Join(dir, "board.html")
	if code := runLeaderboard(context.Background(), []string{"--state", state, "--plot", plotFile, "--html", htmlFile}, io.Discard, &stderr); code != exitOK {
		t.Fatalf("leaderboard --plot --html: exit %d: %s", code, stderr.String())
	}
	f, err := os.Open(plotFile)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("--plot: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
		t.Errorf("plot is %v", b)
	}
	page, err := os.ReadFile(htmlFile)
	if err != nil {
		t.Fatal(err)
	}
	checkBoardHTML(t, page, runs)
	screenshotBoard(t, htmlFile)

	if sqlite, err := exec.LookPath("sqlite3"); err == nil {
		out, err := exec.Command(sqlite, filepath.Join(state, automerge.DBFile),
			"SELECT count(*), sum(status IN ('done', 'failed')) FROM runs; PRAGMA integrity_check;").CombinedOutput()
		if err != nil || string(out) != "8|8\nok\n" {
			t.Errorf("sqlite3: %v: %q", err, out)
		}
	} else {
		t.Log("sqlite3 not installed; the CLI read-back is skipped")
	}
}

// checkBoardHTML checks the page holds the table (one row per run), the
// recipes, and a plot that decodes as a PNG.
func checkBoardHTML(t *testing.T, page []byte, runs []leaderboard.Run) {
	t.Helper()
	s := string(page)
	if !strings.HasPrefix(s, "<!DOCTYPE html>") || !strings.HasSuffix(strings.TrimSpace(s), "</html>") {
		t.Error("not a whole HTML document")
	}
	body := s[strings.Index(s, `<table id="board">`):]
	body = body[:strings.Index(body, "</tbody>")]
	if n := strings.Count(body, "<tr class="); n != len(runs) {
		t.Errorf("%d table rows, want %d", n, len(runs))
	}
	for _, r := range runs {
		if !strings.Contains(body, "<td>"+r.Name+"</td>") {
			t.Errorf("run %s missing from the table", r.Name)
		}
	}
	if !strings.Contains(body, "merge_method: ") || !strings.Contains(body, `class="lineage"`) {
		t.Error("the recipes or lineage are missing")
	}
	// html/template writes the data URI's '+' as an entity.
	m := regexp.MustCompile(`<img [^>]*src="data:image/png;base64,([^"]+)"`).FindStringSubmatch(s)
	if m == nil {
		t.Fatal("no embedded plot")
	}
	raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
		t.Errorf("embedded plot: %v", err)
	}
	if strings.Contains(s, "http://") || strings.Contains(s, "<link ") || strings.Contains(s, "<script src") {
		t.Error("the page loads something from elsewhere; it must be self-contained")
	}
}

// screenshotBoard opens the page in headless Chromium, when installed, and
// checks the screenshot shows the table (its header's colour) and the plot
// (the best-so-far line's black and the method colours).
func screenshotBoard(t *testing.T, page string) {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Log("chromium not installed; the browser check is skipped")
		return
	}
	shot := filepath.Join(t.TempDir(), "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
		"--window-size=1400,1000", "--screenshot="+shot, "file://"+page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[3]uint32]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}]++
		}
	}
	for what, c := range map[string][3]uint32{"table header": {0x24, 0x3b, 0x55}, "plot line": {0, 0, 0},
		"dare_ties points": {31, 119, 180}, "slerp points": {214, 39, 40}} {
		t.Logf("screenshot: %d pixels of the %s colour", seen[c], what)
		if seen[c] < 50 {
			t.Errorf("the screenshot shows no %s (%d pixels of %v)", what, seen[c], c)
		}
	}
}

// TestAutomergeBusy: while one automerge holds the state directory a
// second exits at once with code 75 and says why.
func TestAutomergeBusy(t *testing.T) {
	dir := t.TempDir()
	pool := filepath.Join(dir, "pool.yml")
	os.WriteFile(pool, []byte("models: [a, b]\ntasks: [{name: stories_train, metric: 'word_perplexity,none', weight: -1}]\n"), 0o644)
	state := filepath.Join(dir, "am")
	os.MkdirAll(state, 0o755)
	f, err := os.Create(filepath.Join(state, automerge.LockFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := runAutomerge(context.Background(), automergeArgs(pool, state), io.Discard, &stderr)
	if code != exitBusy || !strings.Contains(stderr.String(), "another gomerge automerge is running") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(state, automerge.DBFile)); err == nil {
		t.Error("the refused run opened the database")
	}
}

// TestAutomergeTwoProcesses starts two `gomerge automerge` processes on
// one state directory at once: one runs, the other exits with 75.
func TestAutomergeTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gomerge automerge as subprocesses")
	}
	pool := automergePool(t)
	state := filepath.Join(t.TempDir(), "am")
	args := strings.Join(automergeArgs(pool, state, "--runs", "6", "--quiet"), " ")
	var cmds [2]*exec.Cmd
	var outs [2]bytes.Buffer
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0])
		cmds[i].Env = append(os.Environ(), "GOMERGE_TEST_MAIN=1", "GOMERGE_TEST_ARGS=automerge "+args)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	codes := map[int]int{}
	for i, c := range cmds {
		c.Wait()
		codes[c.ProcessState.ExitCode()]++
		t.Logf("process %d: exit %d: %s", i, c.ProcessState.ExitCode(), strings.TrimSpace(outs[i].String()))
	}
	if codes[exitOK] != 1 || codes[exitBusy] != 1 {
		t.Fatalf("exit codes %v, want one 0 and one 75", codes)
	}
	for i := range outs {
		if cmds[i].ProcessState.ExitCode() == exitBusy && !strings.Contains(outs[i].String(), "another gomerge automerge is running") {
			t.Errorf("the busy process said %q", outs[i].String())
		}
	}
	if _, runs := openBoard(t, state); len(runs) != 6 {
		t.Errorf("%d runs, want 6", len(runs))
	}
}

// TestAutomergeKill9 kills `gomerge automerge` with SIGKILL at seeded
// random moments and at each step of a child's commit, then runs it
// again: the killed run is recorded interrupted, the database is intact,
// no child directory is left that no run recorded (nor a staging one),
// and the next session adds its runs.
func TestAutomergeKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gomerge automerge as subprocesses")
	}
	pool := automergePool(t)
	rng := rand.New(rand.NewPCG(16, 1))
	type kill struct {
		crashAt string
		after   time.Duration
	}
	var kills []kill
	for _, step := range []string{"marked", "renamed"} {
		kills = append(kills, kill{crashAt: step})
	}
	for range 5 {
		kills = append(kills, kill{after: time.Duration(50+rng.IntN(900)) * time.Millisecond})
	}
	for _, k := range kills {
		t.Run(fmt.Sprintf("%s%v", k.crashAt, k.after), func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "am")
			args := strings.Join(automergeArgs(pool, state, "--runs", "40", "--keep", "2", "--quiet"), " ")
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "GOMERGE_TEST_MAIN=1", "GOMERGE_TEST_ARGS=automerge "+args)
			if k.crashAt != "" {
				cmd.Env = append(cmd.Env, "GOMERGE_CRASH_AT="+k.crashAt)
			}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if k.after > 0 {
				timer := time.AfterFunc(k.after, func() { cmd.Process.Signal(syscall.SIGKILL) })
				defer timer.Stop()
			}
			err := cmd.Wait()
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Skipf("not killed (%v): the session ended first\n%s", err, out.String())
			}
			before := 0
			if _, err := os.Stat(filepath.Join(state, automerge.DBFile)); err == nil {
				db, runs := openBoard(t, state)
				before = len(runs)
				db.Close()
			}
			var stdout, stderr bytes.Buffer
			if code := runAutomerge(context.Background(), automergeArgs(pool, state, "--runs", "2", "--keep", "2", "--json"), &stdout, &stderr); code != exitOK {
				t.Fatalf("rerun: exit %d\n%s", code, stderr.String())
			}
			db, runs := openBoard(t, state)
			if ok, err := db.IntegrityCheck(context.Background()); err != nil || ok != "ok" {
				t.Errorf("integrity_check %q, %v", ok, err)
			}
			if len(runs) != before+2 {
				t.Errorf("%d runs after the rerun, %d before; want 2 more", len(runs), before)
			}
			interrupted := 0
			recorded := map[string]bool{}
			for _, r := range runs {
				switch r.Status {
				case leaderboard.StatusInterrupted:
					interrupted++
				case leaderboard.StatusRunning:
					t.Errorf("run %d still running", r.ID)
				}
				if r.Model != nil {
					recorded[filepath.Base(r.Model.Path)] = true
					if r.Status != leaderboard.StatusDone {
						t.Errorf("run %d has a model but status %s", r.ID, r.Status)
					}
				}
			}
			// A kill inside a child's commit always cuts a run short; a
			// kill at a random moment may fall between two runs.
			if (k.crashAt != "" && interrupted != 1) || interrupted > 1 {
				t.Errorf("%d runs interrupted, want the killed one", interrupted)
			}
			evs := jsonEvents(t, stdout.Bytes())
			if int(evs[len(evs)-1]["interrupted"].(float64)) != interrupted {
				t.Errorf("summary %v, %d interrupted in the database", evs[len(evs)-1], interrupted)
			}
			entries, _ := os.ReadDir(filepath.Join(state, automerge.ModelsDir))
			kept := 0
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".") {
					t.Errorf("leftover %s", e.Name())
					continue
				}
				if !recorded[e.Name()] {
					t.Errorf("child directory %s recorded by no run", e.Name())
				}
				d := filepath.Join(state, automerge.ModelsDir, e.Name())
				if _, err := os.Stat(filepath.Join(d, outdir.MarkerName)); err != nil {
					t.Errorf("%s: no output marker", d)
				}
				if _, err := os.Stat(filepath.Join(d, "model.safetensors")); err == nil {
					kept++
				}
			}
			if kept > 2 {
				t.Errorf("%d children with weights, --keep 2", kept)
			}
		})
	}
}
