package main

import (
	"io"
	"reflect"
	"testing"

	"github.com/gomerge/gomerge/merge"
)

// TestZeroOptionsAreCLIDefaults: the merge.Options that `gomerge CONFIG
// OUT` builds without flags mean what the zero merge.Options means, field
// by field (a new field is compared too), except the ones listed with the
// reason they differ.
func TestZeroOptionsAreCLIDefaults(t *testing.T) {
	var f mergeFlags
	fs := newMergeFlags(io.Discard, &f)
	if _, err := parseInterspersed(fs, []string{"config.yml", "out"}); err != nil {
		t.Fatal(err)
	}
	cli := f.options(nil)
	differ := map[string]string{
		"Hub":      "the CLI downloads hub models; a library caller opts in with a client",
		"Logger":   "the CLI logs to stderr; nil discards",
		"Progress": "the CLI draws a bar on a terminal",
	}
	// effective is what a field's value means, where zero stands for a
	// default.
	effective := map[string]func(reflect.Value) any{
		"ShardSize": func(v reflect.Value) any {
			if v.Int() == 0 {
				return int64(merge.DefaultShardSize)
			}
			return v.Int()
		},
	}
	compared := 0
	var walk func(c, z reflect.Value)
	walk = func(c, z reflect.Value) {
		for i := range c.NumField() {
			field := c.Type().Field(i)
			if field.Anonymous {
				walk(c.Field(i), z.Field(i))
				continue
			}
			if _, ok := differ[field.Name]; ok {
				continue
			}
			get := func(v reflect.Value) any { return v.Interface() }
			if e, ok := effective[field.Name]; ok {
				get = e
			}
			if cv, zv := get(c.Field(i)), get(z.Field(i)); !reflect.DeepEqual(cv, zv) {
				t.Errorf("%s: the CLI's default means %v, the zero Options' %v", field.Name, cv, zv)
			}
			compared++
		}
	}
	walk(reflect.ValueOf(cli), reflect.ValueOf(merge.Options{}))
	if compared < 10 {
		t.Errorf("compared %d fields; the walk lost some", compared)
	}
}
