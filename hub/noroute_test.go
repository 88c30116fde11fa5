package hub

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestNoRouteIsNotRetried checks that a hub whose name does not resolve,
// or that no route reaches, is asked once (the resolve then fails with
// ErrUnreachable), while a refused connection is retried as before.
func TestNoRouteIsNotRetried(t *testing.T) {
	for _, c := range []struct {
		name  string
		err   error
		dials int64
	}{
		{"name not found", &net.DNSError{Err: "no such host", Name: "huggingface.co", IsNotFound: true}, 1},
		{"network unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}, 1},
		{"host unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, 1},
		{"DNS timeout", &net.DNSError{Err: "i/o timeout", Name: "huggingface.co", IsTimeout: true}, 3},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			var dials atomic.Int64
			tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
				dials.Add(1)
				return nil, c.err
			}}
			client := &Client{Endpoint: "http://hub.test", CacheDir: t.TempDir(), Retries: 2, RetryWait: time.Millisecond,
				HTTPClient: &http.Client{Transport: tr}, Logger: slog.New(slog.DiscardHandler)}
			_, err := client.Resolve(context.Background(), "acme/model", "main", nil)
			if err == nil {
				t.Fatal("resolve without a hub succeeded")
			}
			if !errors.Is(err, ErrUnreachable) {
				t.Errorf("err = %v, want ErrUnreachable", err)
			}
			if n := dials.Load(); n != c.dials {
				t.Errorf("%d dials, want %d", n, c.dials)
			}
		})
	}
}
