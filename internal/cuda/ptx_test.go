package cuda

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestPTXHeader(t *testing.T) {
	m, err := parsePTX(PTX)
	if err != nil {
		t.Fatal(err)
	}
	if m.version != "7.0" || m.target != "sm_80" {
		t.Errorf("PTX %s for %s, want 7.0 for sm_80 (gen.sh)", m.version, m.target)
	}
	if !strings.Contains(PTX, ".address_size 64") {
		t.Error("PTX is not 64-bit")
	}
}

// TestLaunchesMatchPTX checks every kernel the Go code launches against the
// entry's parameters in the embedded PTX, and that no entry is unused.
func TestLaunchesMatchPTX(t *testing.T) {
	m, err := parsePTX(PTX)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, l := range allLaunches() {
		used[l.name] = true
		if err := m.check(l); err != nil {
			t.Error(err)
		}
	}
	for name := range m.entries {
		if !used[name] {
			t.Errorf("PTX entry %s is launched by no Go code", name)
		}
	}
}

// TestPTXExactArithmetic checks what makes the kernels agree with the CPU
// bit for bit: no fused multiply-add, no flush of denormals, IEEE division,
// explicit round-to-nearest on adds and multiplies (which ptxas may not
// contract), no approximate instructions.
func TestPTXExactArithmetic(t *testing.T) {
	for _, bad := range []string{"fma.", ".ftz", ".approx", "div.full", "rcp."} {
		if strings.Contains(PTX, bad) {
			t.Errorf("PTX contains %q", bad)
		}
	}
	for _, line := range strings.Split(PTX, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		op := f[0]
		for _, base := range []string{"add.", "sub.", "mul.", "div."} {
			if strings.HasPrefix(op, base) && strings.HasSuffix(op, ".f32") && !strings.Contains(op, ".rn.") {
				t.Errorf("float op without .rn: %s", strings.TrimSpace(line))
			}
		}
	}
}

func TestParsePTXErrors(t *testing.T) {
	for _, src := range []string{"", ".target sm_80", ".version 7.0\n.target sm_80\n.visible .entry f(\n\t.param .u64\n)"} {
		if _, err := parsePTX(src); err == nil {
			t.Errorf("parsePTX(%q) succeeded", src)
		}
	}
	m, err := parsePTX(".version 7.0\n.target sm_80\n.visible .entry f(\n\t.param .u64 f_param_0,\n\t.param .f32 f_param_1\n)\n{\n}")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []launch{{"f", []any{uint64(0)}}, {"f", []any{uint64(0), int32(0)}}, {"g", nil}} {
		if m.check(l) == nil {
			t.Errorf("check(%v) passed", l)
		}
	}
	if err := m.check(launch{"f", []any{uint64(0), float32(0)}}); err != nil {
		t.Error(err)
	}
}

// TestPTXUpToDate regenerates the PTX with gen.sh where clang-14 is
// installed and checks that the committed kernels.ptx is its output.
func TestPTXUpToDate(t *testing.T) {
	if _, err := exec.LookPath("clang-14"); err != nil {
		t.Skip("clang-14 not installed; gen.sh cannot run")
	}
	dir := t.TempDir()
	for _, f := range []string{"gen.sh", "kernels.cu"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/"+f, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(dir + "/gen.sh").CombinedOutput(); err != nil {
		t.Fatalf("gen.sh: %v\n%s", err, out)
	}
	got, err := os.ReadFile(dir + "/kernels.ptx")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != PTX {
		t.Error("kernels.ptx is not gen.sh's output for kernels.cu: run internal/cuda/gen.sh")
	}
}

// FuzzParsePTX checks that parsePTX never panics and that what it accepts
// has a version and a target.
func FuzzParsePTX(f *testing.F) {
	f.Add(PTX[:strings.Index(PTX, "{")]) // the header and the first entry's signature
	f.Add(".version 7.0\n.target sm_80\n.visible .entry f(\n\t.param .u64 f_param_0\n)\n{\n}")
	f.Add(".version 7.0\n.target sm_80\n.entry g()")
	f.Fuzz(func(t *testing.T, src string) {
		m, err := parsePTX(src)
		if err != nil {
			return
		}
		if m.version == "" || m.target == "" {
			t.Fatalf("accepted PTX without version or target: %+v", m)
		}
		for name := range m.entries {
			m.check(launch{name: name})
		}
	})
}
