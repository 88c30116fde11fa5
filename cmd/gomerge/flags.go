package main

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// parseInterspersed parses args with fs, allowing flags after positional
// arguments (mergekit users write `gomerge cfg.yml out --cuda`) and a
// --no-X form for every boolean flag X.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	addNegations(fs)
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		if short := clickShort(fs, a); short != nil {
			flags = append(flags, short...)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil && !isBool(f) && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if !slices.ContainsFunc(flags, func(f string) bool { return f == "-h" || f == "--h" || f == "-help" || f == "--help" }) {
		// A mistyped flag gets the error and where the flags are, not the
		// whole help (which -h prints).
		full := fs.Usage
		fs.Usage = func() {
			name := fs.Name()
			if name == "gomerge" {
				name = "gomerge merge"
			}
			fmt.Fprintf(fs.Output(), "run \"%s -h\" for its flags\n", name)
		}
		defer func() { fs.Usage = full }()
	}
	if err := fs.Parse(flags); err != nil {
		return nil, err
	}
	return pos, nil
}

// clickShort rewrites click's short-option forms that Go's flag package
// does not read: a repeated counter (-vvv for -v -v -v) and a value
// attached to a one-letter flag (-j8 for -j 8). It returns nil for
// anything else.
func clickShort(fs *flag.FlagSet, a string) []string {
	if len(a) < 3 || a[1] == '-' || strings.Contains(a, "=") || fs.Lookup(a[1:]) != nil {
		return nil
	}
	f := fs.Lookup(a[1:2])
	if f == nil {
		return nil
	}
	if _, ok := f.Value.(*counter); ok && strings.Count(a[1:], a[1:2]) == len(a)-1 {
		return slices.Repeat([]string{a[:2]}, len(a)-1)
	}
	if !isBool(f) {
		return []string{a[:2], a[2:]}
	}
	return nil
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// negation is the --no-X twin of a boolean flag.
type negation struct{ target flag.Value }

func (n negation) String() string   { return "" }
func (n negation) IsBoolFlag() bool { return true }
func (n negation) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	return n.target.Set(strconv.FormatBool(!v))
}

func addNegations(fs *flag.FlagSet) {
	var bools []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if isBool(f) && !strings.HasPrefix(f.Name, "no-") {
			bools = append(bools, f)
		}
	})
	for _, f := range bools {
		if fs.Lookup("no-"+f.Name) == nil {
			fs.Var(negation{f.Value}, "no-"+f.Name, "turn off --"+f.Name)
		}
	}
}

// counter is a repeatable flag (-v -v).
type counter int

func (c *counter) String() string   { return strconv.Itoa(int(*c)) }
func (c *counter) IsBoolFlag() bool { return true }
func (c *counter) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	if v {
		*c++
	} else {
		*c = 0
	}
	return nil
}

// addCounter is a flag that adds n to a counter each time it is given
// (-vv for -v -v).
type addCounter struct {
	c *counter
	n int
}

func (a addCounter) String() string   { return "" }
func (a addCounter) IsBoolFlag() bool { return true }
func (a addCounter) Set(s string) error {
	if v, err := strconv.ParseBool(s); err != nil || v {
		*a.c += counter(a.n)
	}
	return nil
}

// verbosity adds -v, -vv and --verbose to fs, counting into c.
func verbosity(fs *flag.FlagSet, c *counter) {
	fs.Var(c, "v", "more logging: -v info, -v -v (or -vv) debug")
	fs.Var(c, "verbose", "same as -v")
	fs.Var(addCounter{c, 2}, "vv", "same as -v -v")
}

// byteSize is a size in bytes written as an integer with an optional
// k/m/b suffix (×10³, ×10⁶, ×10⁹, any case), as mergekit's --out-shard-size.
type byteSize int64

// String prints the size as it would be typed: 5B, 500M, 20k or digits.
func (b *byteSize) String() string {
	v := int64(*b)
	for _, u := range []struct {
		mult   int64
		suffix string
	}{{1e9, "B"}, {1e6, "M"}, {1e3, "k"}} {
		if v != 0 && v%u.mult == 0 {
			return strconv.FormatInt(v/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(v, 10)
}
func (b *byteSize) Set(s string) error {
	v, err := parseSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(v)
	return nil
}

func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k', 'K':
			mult, t = 1e3, t[:n-1]
		case 'm', 'M':
			mult, t = 1e6, t[:n-1]
		case 'b', 'B':
			mult, t = 1e9, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional k, m or b suffix", s)
	}
	return int64(v * float64(mult)), nil
}
