package cuda

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestDefaultBuildStatic builds gomerge as CI and users do
// (CGO_ENABLED=0, no tags) and checks that the binary is statically
// linked: no program interpreter and no needed libraries, so purego (which
// only the cuda tag pulls in) has not leaked into the default build.
func TestDefaultBuildStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gomerge binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("ELF check")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		t.Skipf("no go command: %v", err)
	}
	out := filepath.Join(t.TempDir(), "gomerge")
	cmd := exec.Command(gobin, "build", "-o", out, "../../cmd/gomerge")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the default build has a %v segment: not statically linked", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the default build needs %v", libs)
	}
}
