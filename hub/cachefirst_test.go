package hub

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomerge/gomerge/hub/hubtest"
)

// closedPort is the URL of a port on 127.0.0.1 that nothing listens on:
// connections are refused at once.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// silentHub is the URL of a listener on 127.0.0.1 that accepts connections
// and never answers.
func silentHub(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

// TestCacheFirstUnreachableHub: with a snapshot of the revision cached, a
// hub that refuses connections or never answers costs one short attempt,
// not the retries and their back-off (31 s with the defaults). The retry
// wait here is an hour, so a retry shows as a test that times out.
func TestCacheFirstUnreachableHub(t *testing.T) {
	s := hubtest.NewServer(t)
	commit := s.AddRepo(repoID, testModel(t))
	online := testClient(t, s)
	want, err := online.Resolve(context.Background(), repoID, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, endpoint string
		refuses        bool
	}{
		{"connection refused", closedPort(t), true},
		{"no answer", silentHub(t), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *testClient(t, s)
			c.Endpoint, c.CacheDir, c.RetryWait = tc.endpoint, online.CacheDir, time.Hour
			c.MetadataTimeout = 200 * time.Millisecond
			for _, rev := range []string{"main", "", commit} {
				dir, err := c.Resolve(context.Background(), repoID, rev, nil)
				if err != nil || dir != want {
					t.Errorf("Resolve(%q) = %s, %v; want %s", rev, dir, err, want)
				}
			}
			if !tc.refuses {
				return
			}
			// Nothing cached: the hub is asked with retries as before (none
			// here), and its failure is the error.
			c.Retries = -1
			if _, err := c.Resolve(context.Background(), "org/other", "main", nil); err == nil {
				t.Error("Resolve of an uncached repository succeeded")
			}
		})
	}
}

// TestCacheFirstPinnedAndFresh: a commit hash, or a ref confirmed less
// than RefMaxAge ago, is served from the cache without a request; with
// RefMaxAge zero a moved branch is followed.
func TestCacheFirstPinnedAndFresh(t *testing.T) {
	s := hubtest.NewServer(t)
	c1 := s.AddRepo(repoID, testModel(t))
	c := testClient(t, s)
	dir1, err := c.Resolve(context.Background(), repoID, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	c2 := s.Commit(repoID, "main", testModel(t))
	s.ResetCounters()
	fresh := *c
	fresh.RefMaxAge = time.Hour
	for _, rev := range []string{"main", c1} {
		if dir, err := fresh.Resolve(context.Background(), repoID, rev, nil); err != nil || dir != dir1 {
			t.Errorf("Resolve(%q) = %s, %v; want the cached %s", rev, dir, err, dir1)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests for cached revisions, want none: %v", n, s.Requests())
	}
	dir2, err := c.Resolve(context.Background(), repoID, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	if dir2 == dir1 {
		t.Errorf("with RefMaxAge 0 main stayed at %s; want commit %s", dir2, c2)
	}
}

// TestReachTimeout: with ReachTimeout set (gomerge plan), a repository the
// cache lacks costs one request to a hub that refuses connections or never
// answers, and fails with ErrUnreachable; a hub that answers is used as
// always. Retries wait an hour here, so a retry shows as a test that
// times out.
func TestReachTimeout(t *testing.T) {
	s := hubtest.NewServer(t)
	s.AddRepo(repoID, testModel(t))
	for _, tc := range []struct {
		name, endpoint string
		want           error
	}{
		{"connection refused", closedPort(t), ErrUnreachable},
		{"no answer", silentHub(t), ErrUnreachable},
		{"answers", s.URL, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testClient(t, s)
			c.Endpoint, c.RetryWait, c.ReachTimeout = tc.endpoint, time.Hour, 200*time.Millisecond
			for _, inspect := range []bool{false, true} {
				var err error
				if inspect {
					var m *RemoteModel
					if m, err = c.Inspect(context.Background(), repoID, "main"); err == nil {
						m.Close()
					}
				} else {
					_, err = c.Resolve(context.Background(), repoID, "main", Files("config.json"))
				}
				if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("inspect %v: err = %v, want %v", inspect, err, tc.want)
				}
				if tc.want != nil && (!strings.Contains(err.Error(), "not in the Hugging Face cache") || !strings.Contains(err.Error(), "asked once")) {
					t.Errorf("inspect %v: err = %v; want it to say the cache lacks the model and the hub was asked once", inspect, err)
				}
			}
		})
	}
}
