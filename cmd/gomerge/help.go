package main

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

// setUsage makes fs's -h print text (synopsis, description, examples)
// and then the flags in one style: --long names, a value placeholder,
// aliases on one line, defaults once; the --no- twins, the flags accepted
// only for mergekit compatibility and mergekit's GPU flags summed up in a
// line each.
func setUsage(fs *flag.FlagSet, w io.Writer, text string) {
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprint(w, strings.TrimRight(text, "\n")+"\n")
		printFlags(w, fs)
	}
}

// Usage texts mark flags by the start of their usage string.
const (
	compatUsage = "accepted for mergekit compatibility"
	gpuUsage    = "GPU option of mergekit"
)

func printFlags(w io.Writer, fs *flag.FlagSet) {
	var main, compat, gpu []*flag.Flag
	aliases := map[*flag.Flag][]string{}
	byTarget := map[uintptr]*flag.Flag{}
	firstBool := ""
	fs.VisitAll(func(f *flag.Flag) {
		switch {
		case strings.HasPrefix(f.Name, "no-") && fs.Lookup(strings.TrimPrefix(f.Name, "no-")) != nil:
		case strings.HasPrefix(f.Usage, compatUsage):
			compat = append(compat, f)
		case strings.HasPrefix(f.Usage, gpuUsage):
			gpu = append(gpu, f)
		default:
			// Flags that set the same variable are one flag with several
			// names (-j and --num-threads).
			if p := target(f); p != 0 {
				if first, ok := byTarget[p]; ok {
					aliases[first] = append(aliases[first], f.Name)
					return
				}
				byTarget[p] = f
			}
			main = append(main, f)
			if isBool(f) && firstBool == "" && len(f.Name) > 1 {
				firstBool = f.Name
			}
		}
	})
	if len(main) > 0 {
		fmt.Fprintln(w, "\nflags:")
	}
	for _, f := range main {
		names := append([]string{f.Name}, aliases[f]...)
		slices.SortStableFunc(names, func(a, b string) int { return len(a) - len(b) })
		placeholder := valuePlaceholder(f)
		var spelled []string
		for _, n := range names {
			dash := "--"
			if len(n) == 1 {
				dash = "-"
			}
			spelled = append(spelled, dash+n+placeholder)
		}
		fmt.Fprintf(w, "  %s\n", strings.Join(spelled, ", "))
		// The back-quoted word names the value (placeholder above); the
		// text shows it without the quotes, as the flag package does.
		usage := strings.ReplaceAll(f.Usage, "`", "")
		if def := shownDefault(f); def != "" && !strings.Contains(usage, "(default") {
			usage += " (default " + def + ")"
		}
		fmt.Fprintf(w, "        %s\n", usage)
	}
	if firstBool != "" {
		fmt.Fprintf(w, "\nEvery on/off flag also has a --no- form (--no-%s).\n", firstBool)
	}
	if len(compat) > 0 {
		fmt.Fprintf(w, "Accepted for mergekit compatibility, with no effect here: %s.\n", flagList(compat))
	}
	if len(gpu) > 0 {
		fmt.Fprintf(w, "mergekit's GPU flags, refused (use --device cuda): %s.\n", flagList(gpu))
	}
}

// target is the address of the variable a flag sets, 0 if unknown.
func target(f *flag.Flag) uintptr {
	v := reflect.ValueOf(f.Value)
	if v.Kind() != reflect.Pointer {
		return 0
	}
	return v.Pointer()
}

func flagList(fl []*flag.Flag) string {
	var s []string
	for _, f := range fl {
		s = append(s, "--"+f.Name)
	}
	return strings.Join(s, ", ")
}

// valuePlaceholder is " NAME" for a flag that takes a value: the
// back-quoted word of its usage, else one by the value's kind.
func valuePlaceholder(f *flag.Flag) string {
	if isBool(f) {
		return ""
	}
	if name, _ := flag.UnquoteUsage(f); name != "" && strings.Contains(f.Usage, "`") {
		return " " + name
	}
	switch f.Value.(type) {
	case *byteSize:
		return " BYTES"
	}
	switch name, _ := flag.UnquoteUsage(f); name {
	case "int", "uint", "int64", "uint64":
		return " N"
	case "float", "float64":
		return " X"
	case "duration":
		return " DURATION"
	}
	return " TEXT"
}

// shownDefault is the flag's default as worth printing: not for zero
// values and false.
func shownDefault(f *flag.Flag) string {
	d := f.DefValue
	if d == "" || d == "0" || d == "false" || d == "[]" {
		return ""
	}
	if isBool(f) && d == "true" {
		return "on"
	}
	return d
}
