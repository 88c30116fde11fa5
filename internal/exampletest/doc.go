// Package exampletest holds a test, and nothing else: it copies the
// repository's Example functions (the example*_test.go files of external
// test packages) into a module of their own that requires gomerge through
// a replace directive, and vets them there. A user's program is compiled
// the same way, so an example that reaches into an internal package or an
// unexported name fails here, not in the user's editor.
package exampletest
