package worker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fast scores a job instantly: its score is its seed.
func fast(_ context.Context, j Job, o Options) Result {
	return Result{ID: j.ID, Score: float64(j.Seed), Worker: o.Name}
}

func submitN(t *testing.T, p Pool, ids ...string) {
	t.Helper()
	for i, id := range ids {
		if err := p.Submit(context.Background(), Job{ID: id, Seed: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
}

// closeQuiet closes p and fails if it still had results to give.
func closeQuiet(t *testing.T, p Pool) {
	t.Helper()
	go p.Close()
	for r := range p.Results() {
		t.Errorf("unexpected result %+v", r)
	}
}

// TestJetStreamInProcess: an embedded server without a listener, local
// workers on the in-process connection, real candidates, a job submitted
// twice.
func TestJetStreamInProcess(t *testing.T) {
	dir := storiesDir(t)
	p, err := NewJetStream(context.Background(), JetStreamOptions{StoreDir: t.TempDir(), LocalWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if p.URL() != "" {
		t.Errorf("in-process pool has URL %q", p.URL())
	}
	var jobs []Job
	for i, w := range []string{"0.5", "0.8", "1.2"} {
		j := Job{ID: fmt.Sprint("c", i), Config: linearSelf(dir, w, "0.5"), Tasks: storiesTasks,
			TaskSearchPath: []string{"testdata"}, Limit: 2}
		jobs = append(jobs, j)
		if err := p.Submit(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
	p.Submit(context.Background(), jobs[1])
	got := collect(t, p, len(jobs))
	for _, j := range jobs {
		want := Evaluate(context.Background(), j, Options{})
		if r := got[j.ID]; r.Err != "" || r.Score != want.Score || r.Attempt != 1 {
			t.Errorf("job %s: %+v, want score %v", j.ID, r, want.Score)
		}
	}
	closeQuiet(t, p)
}

// TestJetStreamRestart: a coordinator restarted on the same store sees
// the jobs it had queued and none of the results it had handed over.
func TestJetStreamRestart(t *testing.T) {
	store := t.TempDir()
	p1, err := newJetStream(context.Background(), JetStreamOptions{StoreDir: store}, fast)
	if err != nil {
		t.Fatal(err)
	}
	submitN(t, p1, "a", "b", "c")
	closeQuiet(t, p1)

	p2, err := newJetStream(context.Background(), JetStreamOptions{StoreDir: store, LocalWorkers: 1}, fast)
	if err != nil {
		t.Fatal(err)
	}
	first := <-p2.Results()
	closeQuiet(t, p2) // the others are queued or unread

	p3, err := newJetStream(context.Background(), JetStreamOptions{StoreDir: store, LocalWorkers: 1}, fast)
	if err != nil {
		t.Fatal(err)
	}
	p3.Submit(context.Background(), Job{ID: "d", Seed: 4})
	got := collect(t, p3, 3)
	if _, again := got[first.ID]; again {
		t.Errorf("result of %s delivered again after the restart", first.ID)
	}
	for id, want := range map[string]float64{"a": 1, "b": 2, "c": 3, "d": 4} {
		if r, ok := got[id]; ok && r.Score != want {
			t.Errorf("job %s: score %v, want %v", id, r.Score, want)
		}
	}
	closeQuiet(t, p3)
}

// TestJetStreamResultsWhileDown: with an external server, results that
// workers publish while the coordinator is away are read when it comes
// back.
func TestJetStreamResultsWhileDown(t *testing.T) {
	ns, err := server.NewServer(&server.Options{JetStream: true, StoreDir: t.TempDir(), Host: "127.0.0.1",
		Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	url := ns.ClientURL()
	p1, err := newJetStream(context.Background(), JetStreamOptions{URL: url}, fast)
	if err != nil {
		t.Fatal(err)
	}
	submitN(t, p1, "x", "y")
	closeQuiet(t, p1)

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, nc, ServeOptions{Options: Options{Name: "remote"}}, fast) }()
	js, _ := jetstream.New(nc)
	waitEmpty(t, js, jobsStream(DefaultQueue)) // both scored and acked
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}

	p2, err := newJetStream(context.Background(), JetStreamOptions{URL: url}, fast)
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, p2, 2)
	if got["x"].Worker != "remote" || got["y"].Score != 2 {
		t.Errorf("results %+v", got)
	}
	closeQuiet(t, p2)
}

// waitEmpty waits until stream holds no messages.
func waitEmpty(t *testing.T, js jetstream.JetStream, stream string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		s, err := js.Stream(context.Background(), stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			return
		}
	}
}

// TestJetStreamMaxDeliver: a job that no worker finishes in MaxDeliver
// deliveries gets an error result instead of staying queued forever.
func TestJetStreamMaxDeliver(t *testing.T) {
	p, err := newJetStream(context.Background(), JetStreamOptions{StoreDir: t.TempDir(), AckWait: 500 * time.Millisecond, MaxDeliver: 2}, fast)
	if err != nil {
		t.Fatal(err)
	}
	submitN(t, p, "poison")
	// A worker that takes the job and dies, twice.
	js, _ := jetstream.New(p.nc)
	cons, err := js.Consumer(context.Background(), jobsStream(DefaultQueue), workersDurable)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second)); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	// A third worker waits in vain: the server gives up on the job.
	if m, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second)); err == nil {
		t.Errorf("delivery 3 of a job with MaxDeliver 2: %s", m.Data())
	}
	r := <-p.Results()
	if r.ID != "poison" || !strings.Contains(r.Err, "2 deliveries") {
		t.Errorf("result %+v", r)
	}
	waitEmpty(t, js, jobsStream(DefaultQueue))
	closeQuiet(t, p)
}

// Worker subprocesses: the test binary re-executed with workerProcEnv
// set to "block" (announce each job on stdout, then hold it until
// killed) or "fast".
const (
	workerProcEnv = "GOMERGE_WORKER_TEST"
	workerURLEnv  = "GOMERGE_WORKER_TEST_URL"
)

func workerProcess() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fn := evalFunc(func(_ context.Context, j Job, o Options) Result {
		fmt.Printf("done %s\n", j.ID)
		return fast(ctx, j, o)
	})
	if os.Getenv(workerProcEnv) == "block" {
		fn = func(ctx context.Context, j Job, _ Options) Result {
			fmt.Printf("started %s\n", j.ID)
			<-ctx.Done()
			return Result{ID: j.ID, Err: "stopped"}
		}
	}
	nc, err := nats.Connect(os.Getenv(workerURLEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer nc.Close()
	name := fmt.Sprintf("%s-%d", os.Getenv(workerProcEnv), os.Getpid())
	if err := serve(ctx, nc, ServeOptions{Options: Options{Name: name}}, fn); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("bye")
	return 0
}

// startWorker starts a worker subprocess and returns its stdout lines.
func startWorker(t *testing.T, mode, url string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerProcEnv+"="+mode, workerURLEnv+"="+url)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, out)
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, lines
}

// TestJetStreamWorkerKilled: a pool listening on loopback, two worker
// processes; one is SIGKILLed in the middle of a job. Every job's result
// arrives once, the killed one's from its second delivery.
func TestJetStreamWorkerKilled(t *testing.T) {
	p, err := newJetStream(context.Background(), JetStreamOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0",
		AckWait: 2 * time.Second}, fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.URL(), "nats://127.0.0.1:") || strings.HasSuffix(p.URL(), ":0") {
		t.Fatalf("URL %q", p.URL())
	}
	ids := []string{"j0", "j1", "j2", "j3", "j4", "j5"}
	submitN(t, p, ids...)

	a, aOut := startWorker(t, "block", p.URL())
	line := <-aOut
	killed, ok := strings.CutPrefix(line, "started ")
	if !ok {
		t.Fatalf("worker A said %q", line)
	}
	b, bOut := startWorker(t, "fast", p.URL())
	if line := <-bOut; !strings.HasPrefix(line, "done ") {
		t.Fatalf("worker B said %q", line)
	}
	a.Process.Signal(syscall.SIGKILL) // mid-job: A holds job `killed`
	a.Wait()

	got := collect(t, p, len(ids))
	for i, id := range ids {
		r := got[id]
		if r.Score != float64(i+1) || !strings.HasPrefix(r.Worker, "fast-") {
			t.Errorf("job %s: %+v", id, r)
		}
		if want := 1 + btoi(id == killed); r.Attempt != want {
			t.Errorf("job %s: attempt %d, want %d", id, r.Attempt, want)
		}
	}
	// B stops cleanly on SIGTERM.
	b.Process.Signal(syscall.SIGTERM)
	for l := range bOut {
		if l == "bye" {
			break
		}
	}
	if err := b.Wait(); err != nil {
		t.Errorf("worker B: %v", err)
	}
	closeQuiet(t, p)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
