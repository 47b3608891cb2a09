// benchgo: the grpc-go side of h2grpc's benchmark (bench/run.js), for what
// grpc-go's own benchmark client (google.golang.org/grpc/benchmark/client)
// does not do, plus a process wrapper that measures a child's CPU time.
//
//	benchgo exec [-sample-after-ms N] -- cmd args...
//	    Runs cmd (stdio inherited), forwards SIGINT/SIGTERM to it, reads its
//	    CPU time from /proc after N ms, and after it exits prints
//	    `@@rusage {"cpuUs":…,"cpuAtSampleUs":…,"maxRssKB":…,"exitCode":…}`
//	    from wait4's rusage. Exits with cmd's exit code.
//	benchgo stream -addr host:port -size N -w S -d S [-method unconstrained|from-server]
//	    Server streaming on one stream: counts messages received for d seconds
//	    after w seconds of warm-up.
//	benchgo open -addr host:port -n 10000 -size N [-warm-n 1000]
//	    Opens n StreamingCall streams (one message and one reply each), keeps
//	    them all open, then closes them; time to open, RSS, time to close.
//	benchgo cold -addr host:port
//	    New client + first unary RPC, in this fresh process.
//	benchgo chain -addr host:port -n 10 -w S -d S
//	    Request chains: n unary calls in a row, each after the previous
//	    answered; chains/s, p50/p99 per chain, CPU per chain.
//
// Every subcommand prints one line `@@result {json}` (exec: `@@rusage`) and
// dies with its parent (PR_SET_PDEATHSIG), so a killed bench leaves no strays.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
)

// Same buffer sizes as grpc-go's benchmark client, so the two Go columns agree.
var dialOptions = []grpc.DialOption{
	grpc.WithTransportCredentials(insecure.NewCredentials()),
	grpc.WithWriteBufferSize(128 * 1024),
	grpc.WithReadBufferSize(128 * 1024),
}

func main() {
	runtime.LockOSThread() // PDEATHSIG of exec'd children follows the forking thread
	dieWithParent()
	if len(os.Args) < 2 {
		fail("usage: benchgo exec|stream|open|cold|chain [flags]")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "exec":
		runExec(args)
	case "stream":
		runStream(args)
	case "open":
		runOpen(args)
	case "cold":
		runCold(args)
	case "chain":
		runChain(args)
	default:
		fail("unknown subcommand " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "benchgo:", msg)
	os.Exit(2)
}

func dieWithParent() {
	ppid := os.Getppid()
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0)
	if errno != 0 {
		return
	}
	if os.Getppid() != ppid { // the parent died before prctl took effect
		os.Exit(1)
	}
}

// printResult prints `@@tag {json}`; results carry this process's total CPU
// time, which the bench uses to tell its own load from other processes'.
func printResult(tag string, v map[string]any) {
	if tag == "result" {
		v["totalCpuUs"] = selfCPUMicros()
	}
	b, err := json.Marshal(v)
	if err != nil {
		fail(err.Error())
	}
	fmt.Printf("@@%s %s\n", tag, b)
}

// ------------------------------------------------------------------ exec

// procCPUMicros reads utime+stime of a running process (all threads) from
// /proc/<pid>/stat, in microseconds (clock ticks are 1/100 s on Linux).
func procCPUMicros(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	end := strings.LastIndexByte(s, ')') // comm may contain spaces
	if end < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	fields := strings.Fields(s[end+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad /proc stat numbers")
	}
	return (utime + stime) * 10_000, nil
}

func runExec(args []string) {
	fs := flag.NewFlagSet("exec", flag.ExitOnError)
	sampleAfter := fs.Int("sample-after-ms", 0, "read the child's CPU time after this many ms (0: never)")
	fs.Parse(args)
	argv := fs.Args()
	if len(argv) == 0 {
		fail("exec: no command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = nil
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	if err := cmd.Start(); err != nil {
		fail("exec: " + err.Error())
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	sampled := int64(-1)
	var mu sync.Mutex
	if *sampleAfter > 0 {
		timer := time.AfterFunc(time.Duration(*sampleAfter)*time.Millisecond, func() {
			if v, err := procCPUMicros(cmd.Process.Pid); err == nil {
				mu.Lock()
				sampled = v
				mu.Unlock()
			}
		})
		defer timer.Stop()
	}
	waitErr := cmd.Wait()
	exitCode := 0
	if waitErr != nil {
		var ee *exec.ExitError
		if !errors.As(waitErr, &ee) {
			fail("exec: " + waitErr.Error())
		}
		exitCode = ee.ExitCode()
	}
	out := map[string]any{"exitCode": exitCode}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		out["cpuUs"] = ru.Utime.Sec*1e6 + ru.Utime.Usec + ru.Stime.Sec*1e6 + ru.Stime.Usec
		out["maxRssKB"] = ru.Maxrss
	}
	mu.Lock()
	if sampled >= 0 {
		out["cpuAtSampleUs"] = sampled
	}
	mu.Unlock()
	printResult("rusage", out)
	if exitCode < 0 { // killed by a signal
		exitCode = 1
	}
	os.Exit(exitCode)
}

// ------------------------------------------------------------------ shared

func selfCPUMicros() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Sec*1e6 + ru.Utime.Usec + ru.Stime.Sec*1e6 + ru.Stime.Usec
}

func selfMaxRSSKB() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss
}

// selfRSSKB is the current resident set size (VmRSS).
func selfRSSKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
	}
	return -1
}

func dial(addr string) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, dialOptions...)
	if err != nil {
		fail("dial: " + err.Error())
	}
	return conn
}

func request(size int) *testpb.SimpleRequest {
	return &testpb.SimpleRequest{
		ResponseType: testpb.PayloadType_COMPRESSABLE,
		ResponseSize: int32(size),
		Payload:      &testpb.Payload{Type: testpb.PayloadType_COMPRESSABLE, Body: make([]byte, size)},
	}
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// ------------------------------------------------------------------ stream

func runStream(args []string) {
	fs := flag.NewFlagSet("stream", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:50051", "server address")
	size := fs.Int("size", 16, "response message size (bytes)")
	warm := fs.Float64("w", 1, "warm-up seconds")
	dur := fs.Float64("d", 5, "measured seconds")
	method := fs.String("method", "unconstrained", "unconstrained (StreamingCall + unconstrained-streaming header) or from-server (StreamingFromServer)")
	fs.Parse(args)

	conn := dial(*addr)
	defer conn.Close()
	client := testgrpc.NewBenchmarkServiceClient(conn)
	ctx, cancel := context.WithCancel(context.Background())
	req := &testpb.SimpleRequest{ResponseType: testpb.PayloadType_COMPRESSABLE, ResponseSize: int32(*size)}
	resp := new(testpb.SimpleResponse)
	var recv func() error
	switch *method {
	case "unconstrained":
		sctx := metadata.AppendToOutgoingContext(ctx, "unconstrained-streaming", "1")
		st, err := client.StreamingCall(sctx)
		if err != nil {
			fail("StreamingCall: " + err.Error())
		}
		if err := st.Send(req); err != nil {
			fail("StreamingCall send: " + err.Error())
		}
		recv = func() error { return st.RecvMsg(resp) }
	case "from-server":
		st, err := client.StreamingFromServer(ctx, req)
		if err != nil {
			fail("StreamingFromServer: " + err.Error())
		}
		recv = func() error { return st.RecvMsg(resp) }
	default:
		fail("unknown -method " + *method)
	}

	warmEnd := time.Now().Add(seconds(*warm))
	var start, end time.Time
	var cpu0 int64
	count := 0
	measuring := false
	for {
		if err := recv(); err != nil {
			fail("receive: " + err.Error())
		}
		now := time.Now()
		if !measuring {
			if now.After(warmEnd) {
				measuring = true
				start = now
				end = now.Add(seconds(*dur))
				cpu0 = selfCPUMicros()
			}
			continue
		}
		count++
		if now.After(end) {
			end = now
			break
		}
	}
	cpu := selfCPUMicros() - cpu0
	cancel()
	secs := end.Sub(start).Seconds()
	printResult("result", map[string]any{
		"ops":        count,
		"seconds":    secs,
		"opsPerSec":  float64(count) / secs,
		"cpuUsPerOp": float64(cpu) / float64(count),
		"peakRssMB":  float64(selfMaxRSSKB()) / 1024,
	})
}

// ------------------------------------------------------------------ open

type openResult struct {
	openMs, closeMs float64
	rssOpenKB       int64
}

// openAndClose opens n StreamingCall streams, each sending one message and
// reading its reply, then half-closes all of them and waits for their ends.
func openAndClose(client testgrpc.BenchmarkServiceClient, n, size int) (openResult, error) {
	req := request(size)
	streams := make([]testgrpc.BenchmarkService_StreamingCallClient, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st, err := client.StreamingCall(context.Background())
			if err == nil {
				err = st.Send(req)
			}
			if err == nil {
				_, err = st.Recv()
			}
			if err != nil {
				errs <- err
				return
			}
			streams[i] = st
		}(i)
	}
	wg.Wait()
	var r openResult
	r.openMs = float64(time.Since(t0).Microseconds()) / 1000
	select {
	case err := <-errs:
		return r, err
	default:
	}
	r.rssOpenKB = selfRSSKB()
	t1 := time.Now()
	for _, st := range streams {
		wg.Add(1)
		go func(st testgrpc.BenchmarkService_StreamingCallClient) {
			defer wg.Done()
			if err := st.CloseSend(); err != nil {
				errs <- err
				return
			}
			if _, err := st.Recv(); err != io.EOF {
				errs <- fmt.Errorf("expected the end of the stream, got %v", err)
			}
		}(st)
	}
	wg.Wait()
	r.closeMs = float64(time.Since(t1).Microseconds()) / 1000
	select {
	case err := <-errs:
		return r, err
	default:
	}
	return r, nil
}

func runOpen(args []string) {
	fs := flag.NewFlagSet("open", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:50051", "server address")
	n := fs.Int("n", 10000, "streams")
	warmN := fs.Int("warm-n", 1000, "streams of the warm-up round")
	size := fs.Int("size", 16, "request and response size (bytes)")
	fs.Parse(args)

	conn := dial(*addr)
	defer conn.Close()
	client := testgrpc.NewBenchmarkServiceClient(conn)
	if *warmN > 0 {
		if _, err := openAndClose(client, *warmN, *size); err != nil {
			fail("warm-up: " + err.Error())
		}
	}
	runtime.GC()
	rss0 := selfRSSKB()
	cpu0 := selfCPUMicros()
	r, err := openAndClose(client, *n, *size)
	if err != nil {
		fail(err.Error())
	}
	cpu := selfCPUMicros() - cpu0
	printResult("result", map[string]any{
		"streams":        *n,
		"openMs":         r.openMs,
		"closeMs":        r.closeMs,
		"rssOpenMB":      float64(r.rssOpenKB) / 1024,
		"rssBeforeMB":    float64(rss0) / 1024,
		"rssPerStreamKB": float64(r.rssOpenKB-rss0) / float64(*n),
		"cpuUsPerOp":     float64(cpu) / float64(*n),
		"peakRssMB":      float64(selfMaxRSSKB()) / 1024,
	})
}

// ------------------------------------------------------------------ cold

func runCold(args []string) {
	fs := flag.NewFlagSet("cold", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:50051", "server address")
	fs.Parse(args)
	t0 := time.Now()
	conn := dial(*addr)
	client := testgrpc.NewBenchmarkServiceClient(conn)
	if _, err := client.UnaryCall(context.Background(), &testpb.SimpleRequest{}); err != nil {
		fail("UnaryCall: " + err.Error())
	}
	coldMs := float64(time.Since(t0).Microseconds()) / 1000
	conn.Close()
	printResult("result", map[string]any{"coldMs": coldMs, "peakRssMB": float64(selfMaxRSSKB()) / 1024})
}

// ------------------------------------------------------------------ chain

func runChain(args []string) {
	fs := flag.NewFlagSet("chain", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:50051", "server address")
	n := fs.Int("n", 10, "calls per chain")
	warm := fs.Float64("w", 2, "warm-up seconds")
	dur := fs.Float64("d", 5, "measured seconds")
	fs.Parse(args)
	conn := dial(*addr)
	defer conn.Close()
	client := testgrpc.NewBenchmarkServiceClient(conn)
	ctx := context.Background()
	chain := func() {
		for i := 0; i < *n; i++ {
			if _, err := client.UnaryCall(ctx, &testpb.SimpleRequest{}); err != nil {
				fail("UnaryCall: " + err.Error())
			}
		}
	}
	warmEnd := time.Now().Add(time.Duration(*warm * float64(time.Second)))
	for time.Now().Before(warmEnd) {
		chain()
	}
	var lat []float64
	cpu0 := selfCPUMicros()
	start := time.Now()
	end := start.Add(time.Duration(*dur * float64(time.Second)))
	now := start
	for now.Before(end) {
		t0 := time.Now()
		chain()
		now = time.Now()
		lat = append(lat, float64(now.Sub(t0).Microseconds()))
	}
	cpu := selfCPUMicros() - cpu0
	secs := now.Sub(start).Seconds()
	sort.Float64s(lat)
	pct := func(p float64) float64 { return lat[int(p/100*float64(len(lat)-1))] }
	printResult("result", map[string]any{
		"ops":        len(lat),
		"seconds":    secs,
		"opsPerSec":  float64(len(lat)) / secs,
		"p50us":      pct(50),
		"p99us":      pct(99),
		"cpuUsPerOp": float64(cpu) / float64(len(lat)),
		"peakRssMB":  float64(selfMaxRSSKB()) / 1024,
	})
}
