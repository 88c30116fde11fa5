//go:build !unix

package regfile

import "testing"

func mkfifo(t *testing.T) string {
	t.Skip("no FIFOs on this system")
	return ""
}
