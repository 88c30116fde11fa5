package eval

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

//go:generate go run ./internal/gendata -out data

// builtinFS holds the embedded German task sets: for each a YAML task
// file, its zstd-compressed JSONL documents and its licence and
// attribution (NAME.LICENSE.txt).
//
//go:embed data
var builtinFS embed.FS

// BuiltinTasks returns the names of the embedded task sets.
func BuiltinTasks() []string {
	ents, _ := fs.ReadDir(builtinFS, "data")
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Builtin loads an embedded task set by name.
func Builtin(name string) (*Task, error) {
	if name == "" || strings.ContainsAny(name, "/\\.") {
		return nil, fmt.Errorf("eval: no built-in task %q", name)
	}
	t, err := LoadTaskFS(builtinFS, path.Join("data", name+".yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("eval: no built-in task %q (have %s)", name, strings.Join(BuiltinTasks(), ", "))
	}
	if err != nil {
		return nil, err
	}
	t.Source = "builtin:" + name
	return t, nil
}

// BuiltinNotice returns the licence and attribution of an embedded task
// set.
func BuiltinNotice(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/\\.") {
		return "", fmt.Errorf("eval: no built-in task %q", name)
	}
	b, err := fs.ReadFile(builtinFS, path.Join("data", name+".LICENSE.txt"))
	if err != nil {
		return "", fmt.Errorf("eval: no built-in task %q", name)
	}
	return string(b), nil
}

// FindTask loads the task file at nameOrPath if there is one, else the
// built-in task of that name.
func FindTask(nameOrPath string) (*Task, error) {
	if _, err := os.Stat(nameOrPath); err == nil {
		return LoadTask(nameOrPath)
	}
	if strings.ContainsAny(nameOrPath, "/\\.") {
		return nil, fmt.Errorf("eval: task %q: no such file, and not a built-in task", nameOrPath)
	}
	return Builtin(nameOrPath)
}
