package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSignals runs a karcher merge that never converges (max_iter 1e9,
// tol 0) in a child process and stops it with SIGTERM, or with SIGTERM
// and then SIGINT: it must exit 130 and leave no output, not even its
// hidden partial directory. The config's unknown key makes the merge log a
// warning just before it starts writing, which tells the test when to
// signal. A child that ignores the signals hangs the test.
func TestSignals(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	dir := models(t)
	writeConfig(t, "merge_method: karcher\nparameters: {max_iter: 1000000000, tol: 0}\nmodels: [{model: base}, {model: ft}]\nstart_marker: 1\n")
	for _, tc := range []struct {
		name string
		sigs []os.Signal
	}{
		{"SIGTERM", []os.Signal{syscall.SIGTERM}},
		{"SIGINT", []os.Signal{os.Interrupt}},
		{"SIGTERM then SIGINT", []os.Signal{syscall.SIGTERM, os.Interrupt}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := "out-" + strings.ReplaceAll(tc.name, " ", "-")
			cmd := exec.Command(exe, "config.yml", out, "--quiet")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOMERGE_TEST_RUN_MAIN=1")
			// A child that ignores the signals dies with the test binary
			// when the test times out.
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(stderr)
			var log []string
			for sc.Scan() {
				log = append(log, sc.Text())
				if strings.Contains(sc.Text(), `unknown key \"start_marker\"`) {
					break
				}
			}
			for _, s := range tc.sigs {
				if err := cmd.Process.Signal(s); err != nil {
					t.Fatal(err)
				}
			}
			for sc.Scan() {
				log = append(log, sc.Text())
			}
			err = cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
				t.Fatalf("exit: %v, want code %d; stderr:\n%s", err, exitInterrupted, strings.Join(log, "\n"))
			}
			left, _ := filepath.Glob(filepath.Join(dir, "*"+out+"*"))
			hidden, _ := filepath.Glob(filepath.Join(dir, "."+out+"*"))
			if len(left)+len(hidden) > 0 {
				t.Errorf("left %v %v behind", left, hidden)
			}
		})
	}
}
