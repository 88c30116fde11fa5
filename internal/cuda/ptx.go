package cuda

import (
	"fmt"
	"regexp"
	"strings"
)

// ptxModule is what the PTX text declares: its ISA version, target and the
// parameter types of each entry.
type ptxModule struct {
	version, target string
	entries         map[string][]paramKind
}

var (
	ptxVersion = regexp.MustCompile(`(?m)^\.version\s+(\S+)`)
	ptxTarget  = regexp.MustCompile(`(?m)^\.target\s+(\S+)`)
	ptxEntry   = regexp.MustCompile(`(?s)\.entry\s+(\w+)\s*\(([^)]*)\)`)
	ptxParam   = regexp.MustCompile(`\.param\s+\.(\w+)\s+\w+`)
)

// parsePTX reads the module header and entry signatures of PTX text.
func parsePTX(src string) (*ptxModule, error) {
	m := &ptxModule{entries: map[string][]paramKind{}}
	v := ptxVersion.FindStringSubmatch(src)
	t := ptxTarget.FindStringSubmatch(src)
	if v == nil || t == nil {
		return nil, fmt.Errorf("ptx: no .version or .target directive")
	}
	m.version, m.target = v[1], t[1]
	for _, e := range ptxEntry.FindAllStringSubmatch(src, -1) {
		var ps []paramKind
		for _, p := range strings.Split(e[2], ",") {
			if strings.TrimSpace(p) == "" {
				continue
			}
			q := ptxParam.FindStringSubmatch(p)
			if q == nil {
				return nil, fmt.Errorf("ptx: entry %s: unreadable parameter %q", e[1], strings.TrimSpace(p))
			}
			ps = append(ps, paramKind(q[1]))
		}
		m.entries[e[1]] = ps
	}
	return m, nil
}

// check reports whether the launch's argument types are the entry's
// parameter types.
func (m *ptxModule) check(l launch) error {
	ps, ok := m.entries[l.name]
	if !ok {
		return fmt.Errorf("ptx: no entry %s", l.name)
	}
	if len(ps) != len(l.args) {
		return fmt.Errorf("ptx: %s takes %d parameters, the launch passes %d", l.name, len(ps), len(l.args))
	}
	for i, a := range l.args {
		if kind(a) != ps[i] {
			return fmt.Errorf("ptx: %s parameter %d is .%s, the launch passes %T", l.name, i, ps[i], a)
		}
	}
	return nil
}
