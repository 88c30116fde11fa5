package merge

import (
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/hub/hubtest"
)

// silentListener accepts connections, never answers, and counts them.
func silentListener(t *testing.T) (url string, accepted *atomic.Int32) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	accepted = new(atomic.Int32)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
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
	return "http://" + l.Addr().String(), accepted
}

// TestPlanReportsEveryMissingModel: planning a config whose models cannot
// be found fails with one error per model (each a *ModelError with
// NotFound, on its YAML line) and the parameter typos, whether the hub
// does not answer, is offline, or has no such repositories; a hub that
// does not answer is asked once, not once per model.
func TestPlanReportsEveryMissingModel(t *testing.T) {
	yml := `merge_method: ties
base_model: acme/base
models:
  - model: acme/ft1
    parameters: {densty: 0.5, weight: 0.5}
  - model: acme/ft2
    parameters: {density: 0.5, weight: 0.5}
  - model: ./no/such/dir
    parameters: {density: 0.5, weight: 0.5}
  - model: "D:/models/ft3"
`
	cfg, err := ParseConfig([]byte(yml), "c.yml")
	if err != nil {
		t.Fatal(err)
	}
	silent, accepted := silentListener(t)
	srv := hubtest.NewServer(t)
	for _, tc := range []struct {
		name   string
		client *hub.Client
		cause  error // what the hub models' errors match
	}{
		{"no answer", &hub.Client{Endpoint: silent, ReachTimeout: 100 * time.Millisecond, RetryWait: time.Hour}, hub.ErrUnreachable},
		{"offline", &hub.Client{Endpoint: silent, Offline: true}, hub.ErrNotCached},
		{"no such repositories", &hub.Client{Endpoint: srv.URL}, hub.ErrRepoNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.client.CacheDir = t.TempDir()
			accepted.Store(0)
			_, err := NewPlan(cfg, PlanOptions{Hub: tc.client, HeadersOnly: true, Dir: t.TempDir()})
			var models []string
			var lines []int
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var ce *ConfigError
				var me *ModelError
				switch {
				case errors.As(e, &me):
					if !me.NotFound {
						t.Errorf("%s: NotFound is false: %v", me.Ref, e)
					}
					if hub.IsRepoID(me.Ref.Path) && !errors.Is(e, tc.cause) {
						t.Errorf("%s: err = %v; want it to match %v", me.Ref, e, tc.cause)
					}
					if !hub.IsRepoID(me.Ref.Path) && !errors.Is(e, ErrModelNotFound) {
						t.Errorf("%s: err = %v; want it to match ErrModelNotFound", me.Ref, e)
					}
					models = append(models, me.Ref.Path)
					errors.As(e, &ce)
					lines = append(lines, ce.Pos.Line)
				case errors.As(e, &ce) && strings.Contains(ce.Msg, `did you mean "density"`):
					lines = append(lines, ce.Pos.Line)
				default:
					t.Errorf("unexpected error %v", e)
				}
			}
			want := []string{"acme/base", "acme/ft1", "acme/ft2", "./no/such/dir", "D:/models/ft3"}
			if strings.Join(models, " ") != strings.Join(want, " ") {
				t.Errorf("models reported: %v; want %v", models, want)
			}
			if got, want := lines, []int{2, 4, 5, 6, 8, 10}; !slices.Equal(got, want) {
				t.Errorf("error lines %v, want %v", got, want)
			}
			if !strings.Contains(err.Error(), "a Windows path") {
				t.Errorf("no hint that D:/models/ft3 is a Windows path in\n%v", err)
			}
			// One connection at most: the accept may not have been
			// counted yet when the client gives up.
			if n := accepted.Load(); tc.name == "no answer" && n > 1 || tc.name == "offline" && n != 0 {
				t.Errorf("the silent hub got %d connections", n)
			}
		})
	}
}
