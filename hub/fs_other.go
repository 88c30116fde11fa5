//go:build !unix

package hub

import "context"

// lockPath does not lock where flock is missing: two processes that
// download the same blob at once may spoil each other's .incomplete file,
// which verification then rejects.
func lockPath(ctx context.Context, p string) (func(), error) { return func() {}, nil }

func freeSpace(string) (int64, bool) { return 0, false }
