package main

// truc bench: the throughput and latency harness of the bus. It runs a
// fresh demo world in this process and drives its edges through their Go
// API, so that everything it measures is the bus's own work.

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
	"truc.vn/truc/signing/demopki"
)

const benchSynopsis = "bench [--edges N] [--letters M] [--size S] [--concurrency C] [--rate R] [--duration D] [--data DIR] [--cpuprofile FILE] [--json]"

const benchExplain = `
Measure how many letters the bus carries per second, and how fast, with
nothing left out: a fresh demo world (RSA-2048 PKI, the embedded broker,
the axis and --edges edges in this process, bbolt stores on disk), and on
every edge a simulated DMS that drives the edge's Go API directly (no
HTTP, so the DMS side costs nothing). Letters of --size bytes go from
agencies on each edge to an agency on another edge. The sender edge signs
each letter; the axis and the recipient edge verify it; the recipient's
DMS takes it, so that its edge signs status 01 and sends it back, and the
axis and the sender edge verify that in turn. A round trip is the time
from the Submit call to the 01 arriving in the sender's inbox.

Steps:
  1. warm-up: --warmup letters (consumer groups join, caches fill), not
     counted;
  2. floor: RSA-2048 PKCS#1 v1.5 SHA-256 signatures per second with the
     sender's seal key on GOMAXPROCS goroutines for --floor-time, halved:
     a round trip needs at least two signatures (the letter and its 01),
     so no round-trip rate can pass it;
  3. throughput: a closed loop keeps --concurrency letters in flight until
     --letters round trips are done; prints round trips/s and their ratio
     to the floor (target: at least 0.40);
  4. latency: an open loop offers letters at --rate per second (default:
     half the rate of step 3) for --duration (default: --letters/2
     letters), each round trip timed from its scheduled send; prints p50,
     p90, p99 and max and whether the rate was kept (target: p99 at most
     100 ms).

For steps 3 and 4 it also prints the CPU this process used (per round
trip, and as a ratio to the floor per CPU second: the ratio the bus would
reach if it kept every core busy, whatever share of the machine other
programs took), the bbolt commits per round trip, the
time letters spent in each stage of the round trip, and the warnings the
nodes logged (counted whatever --log-level shows).

--size takes a number of bytes with an optional unit: B, KB or KiB (1024),
MB or MiB (1024²); it is the size of the package the DMS submits, before
the edge signs it. Progress goes to standard error: one line rewritten in
place on a terminal, else a line every 5 s. --cpuprofile writes a pprof
CPU profile of steps 3 and 4 (read it with "go tool pprof -top FILE").
--data keeps the demo world in DIR (which must not hold one) instead of a
temporary directory removed at the end. --json prints the results as one
JSON object instead of text.

Exit status: 0 every letter made its round trip (the targets met or not:
the output says); 1 a letter failed, the bus stalled or stopped; 2 wrong
usage.

Examples:
  truc bench
  truc bench --edges 3 --letters 2000 --size 5KB --cpuprofile cpu.out
  truc bench --rate 30 --duration 1m --json > bench.json
`

// Targets of the issue: round trips/s at least benchTargetRatio of the
// floor; p99 at most benchTargetP99 at half the achieved rate.
const (
	benchTargetRatio = 0.40
	benchTargetP99   = 100 * time.Millisecond
)

// Limits of the flags: a letter leaves room for its signature under the
// packages' size limit; the letters of a run, all built before it starts,
// fit in benchMaxMemory.
const (
	benchMaxSize   = bus.DefaultMaxPackageBytes - 64<<10
	benchMaxMemory = 1 << 30
)

// benchOptions are the flags of truc bench.
type benchOptions struct {
	Edges       int
	Agencies    int
	Letters     int
	Size        int
	Concurrency int
	Rate        float64
	Duration    time.Duration
	Warmup      int
	Takers      int
	FloorTime   time.Duration
	Stall       time.Duration
	DataDir     string
	CPUProfile  string
	JSON        bool
	LogLevel    string
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", benchSynopsis, benchExplain, stderr)
	o := benchOptions{}
	fs.IntVar(&o.Edges, "edges", 3, fmt.Sprintf("number of edges, 2 to %d", len(devEdgeSpecs)))
	fs.IntVar(&o.Agencies, "agencies", 10, "agencies per edge; letters go between them")
	fs.IntVar(&o.Letters, "letters", 2000, "round trips in the throughput step")
	size := fs.String("size", "5KB", "size of each letter as the DMS submits it: bytes, or with KB, KiB, MB, MiB")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "letters in flight in the throughput step")
	fs.Float64Var(&o.Rate, "rate", 0, "letters per second offered in the latency step (default: half the throughput)")
	fs.DurationVar(&o.Duration, "duration", 0, "length of the latency step (default: --letters/2 letters)")
	fs.IntVar(&o.Warmup, "warmup", 100, "letters sent before measuring, not counted")
	fs.IntVar(&o.Takers, "takers", 8, "DMS workers per edge that take delivered letters")
	fs.DurationVar(&o.FloorTime, "floor-time", 2*time.Second, "how long the RSA floor is measured")
	fs.DurationVar(&o.Stall, "stall", time.Minute, "give up when no round trip completes for this long")
	fs.StringVar(&o.DataDir, "data", "", "create the demo world in `DIR` and keep it (default: a temporary directory)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the measured steps to `FILE`")
	fs.BoolVar(&o.JSON, "json", false, "print the results as JSON")
	fs.StringVar(&o.LogLevel, "log-level", "error", "log `level` of the nodes on standard error: debug, info, warn, error (warnings are counted in the results whatever the level)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("bench takes no arguments (see truc bench -h)")
	}
	var err error
	if o.Size, err = parseByteSize(*size); err != nil {
		return usageError("bench: --size: " + err.Error())
	}
	if err := o.validate(); err != nil {
		return usageError("bench: " + err.Error())
	}
	logger, err := newLogger(logConfig{Level: o.LogLevel}, stderr)
	if err != nil {
		return usageError("bench: --log-level: " + err.Error())
	}
	warnings := &benchLogCounts{}
	logger = slog.New(benchLogCounter{next: logger.Handler(), counts: warnings})
	res, err := benchRunAll(ctx, o, logger, warnings, stderr)
	if err != nil {
		return err
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printBenchText(stdout, res)
	}
	if res.Failures() > 0 {
		fmt.Fprintf(stderr, "truc bench: %d letters did not make their round trip\n", res.Failures())
		return failed(exitFailure)
	}
	return nil
}

func (o benchOptions) validate() error {
	var errs []error
	if o.Edges < 2 || o.Edges > len(devEdgeSpecs) {
		errs = append(errs, fmt.Errorf("--edges: 2 to %d (letters go to another edge), got %d", len(devEdgeSpecs), o.Edges))
	}
	if o.Agencies < 1 || o.Agencies > 99 {
		errs = append(errs, fmt.Errorf("--agencies: 1 to 99, got %d", o.Agencies))
	}
	if o.Letters < 2 {
		errs = append(errs, fmt.Errorf("--letters: at least 2, got %d", o.Letters))
	}
	if o.Size > benchMaxSize {
		errs = append(errs, fmt.Errorf("--size: at most %d bytes (the package limit, less room for the signature), got %d", benchMaxSize, o.Size))
	} else if n, _ := o.latencyLetters(0); int64(o.Size)*int64(o.Warmup+o.Letters+n) > benchMaxMemory {
		errs = append(errs, fmt.Errorf("--size × letters: every letter is built in memory before the run, at most %d MiB in all, got %d MiB",
			benchMaxMemory>>20, int64(o.Size)*int64(o.Warmup+o.Letters+n)>>20))
	}
	if o.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("--concurrency: at least 1, got %d", o.Concurrency))
	}
	if o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) {
		errs = append(errs, fmt.Errorf("--rate: a positive number of letters per second, got %v", o.Rate))
	}
	if o.Duration < 0 {
		errs = append(errs, fmt.Errorf("--duration: must not be negative, got %s", o.Duration))
	}
	if o.Rate > 0 && o.Duration > 0 && o.Rate*o.Duration.Seconds() > 1e6 {
		errs = append(errs, fmt.Errorf("--rate × --duration: at most 1,000,000 letters, got %.0f", o.Rate*o.Duration.Seconds()))
	}
	if o.Warmup < 0 {
		errs = append(errs, fmt.Errorf("--warmup: must not be negative, got %d", o.Warmup))
	}
	if o.Takers < 1 {
		errs = append(errs, fmt.Errorf("--takers: at least 1, got %d", o.Takers))
	}
	if o.FloorTime < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--floor-time: at least 100ms, got %s", o.FloorTime))
	}
	if o.Stall < time.Second {
		errs = append(errs, fmt.Errorf("--stall: at least 1s, got %s", o.Stall))
	}
	return errors.Join(errs...)
}

// parseByteSize reads "5120", "5KB", "5 KiB", "2MB": KB and KiB both mean
// 1024 bytes, MB and MiB 1024².
func parseByteSize(s string) (int, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult := 0.0
	switch strings.ToLower(unit) {
	case "", "b":
		mult = 1
	case "k", "kb", "kib":
		mult = 1 << 10
	case "m", "mb", "mib":
		mult = 1 << 20
	default:
		return 0, fmt.Errorf("%q: the unit must be B, KB, KiB, MB or MiB", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size such as 5120, 5KB or 2MiB", s)
	}
	n := v * mult
	if n < 1 || n > 1<<30 {
		return 0, fmt.Errorf("%q: between 1 byte and 1 GiB", s)
	}
	return int(n), nil
}

// ---------------------------------------------------------------------------
// Results

// benchResult is what truc bench reports (the --json output).
type benchResult struct {
	Machine    benchMachine     `json:"machine"`
	Edges      int              `json:"edges"`
	Agencies   int              `json:"agencies_per_edge"`
	Key        string           `json:"key"`
	Size       int              `json:"letter_bytes"`
	MeanSize   float64          `json:"mean_letter_bytes"`
	MeanSigned float64          `json:"mean_signed_bytes"`
	Warmup     benchPhaseResult `json:"warmup"`
	Floor      benchFloor       `json:"floor"`
	Throughput benchPhaseResult `json:"throughput"`
	Latency    benchPhaseResult `json:"latency"`
	Targets    benchTargets     `json:"targets"`
	Counts     benchCounts      `json:"counts"`
	// Warnings counts the nodes' warnings and errors logged during the
	// throughput and latency steps, by message (numbers replaced by N).
	Warnings map[string]int `json:"node_warnings,omitempty"`
	Profile  string         `json:"cpu_profile,omitempty"`
}

type benchMachine struct {
	NumCPU     int    `json:"nproc"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPU        string `json:"cpu"`
	Go         string `json:"go"`
	LoadStart  string `json:"loadavg_start,omitempty"`
	LoadEnd    string `json:"loadavg_end,omitempty"`
}

type benchFloor struct {
	Goroutines       int     `json:"goroutines"`
	Signatures       int64   `json:"signatures"`
	Seconds          float64 `json:"seconds"`
	SignaturesPerSec float64 `json:"signatures_per_s"`
	RoundTripsPerSec float64 `json:"round_trips_per_s"`
	ProcessCores     float64 `json:"process_cores"`
	MachineBusy      float64 `json:"machine_busy"`
	// CPUPerSignature is this process's CPU time per signature, in ms.
	CPUPerSignature float64 `json:"cpu_ms_per_signature"`
}

// benchPhaseResult is one step's outcome; latencies are in milliseconds.
type benchPhaseResult struct {
	Mode        string   `json:"mode"` // closed (fixed letters in flight) or open (fixed rate)
	Letters     int      `json:"letters"`
	Completed   int      `json:"completed"`
	Failed      int      `json:"failed"`
	Errors      []string `json:"errors,omitempty"` // the first few
	Concurrency int      `json:"concurrency,omitempty"`
	// TargetRate is the rate an open loop offers; OfferedRate the rate it
	// managed to start Submit calls at.
	TargetRate  float64 `json:"target_rate,omitempty"`
	OfferedRate float64 `json:"offered_rate,omitempty"`
	Seconds     float64 `json:"seconds"`
	// RoundTripsPerSec is completed round trips over the time from the
	// step's start to the last 01.
	RoundTripsPerSec float64 `json:"round_trips_per_s"`
	FloorRatio       float64 `json:"floor_ratio,omitempty"`
	Mean             float64 `json:"mean_ms"`
	P50              float64 `json:"p50_ms"`
	P90              float64 `json:"p90_ms"`
	P99              float64 `json:"p99_ms"`
	Max              float64 `json:"max_ms"`
	// DeliveredRate is the rate at which an open loop's round trips
	// completed, from the first to the last: it stays at the offered rate
	// while the bus keeps up, and falls to what it can carry when not.
	DeliveredRate float64 `json:"delivered_rate,omitempty"`
	// MaxStartLag is how late an open loop started a Submit call behind
	// its schedule (round trips are timed from the schedule).
	MaxStartLag float64 `json:"max_start_lag_ms,omitempty"`
	RateKept    *bool   `json:"rate_kept,omitempty"`
	// Stages splits the round trips into their stages (see
	// benchStageNames). The percentiles of the stages do not add up to the
	// round trip's; the means do.
	Stages []benchStage `json:"stages,omitempty"`
	// ProcessCores is the CPU time of this process (the whole bus, the
	// simulated DMSs included) over the step's wall time; MachineBusy and
	// MachineSteal the share of all CPUs busy (any process) and stolen by
	// the hypervisor, from /proc/stat (0 where the system does not say).
	ProcessCores float64 `json:"process_cores"`
	MachineBusy  float64 `json:"machine_busy"`
	MachineSteal float64 `json:"machine_steal"`
	// CPUPerRoundTrip is the process's CPU time per completed round trip,
	// in ms: the broker's, the axis's, the edges' and the DMSs' together.
	CPUPerRoundTrip float64 `json:"cpu_ms_per_round_trip"`
	// CPUFloorRatio is two signatures' CPU time (from the floor) over
	// CPUPerRoundTrip: the floor ratio the bus would reach if it kept
	// every core busy doing the same work per round trip, whatever share
	// of the machine it got in this run. It bounds FloorRatio from above
	// when the bus leaves cores idle.
	CPUFloorRatio float64 `json:"cpu_floor_ratio,omitempty"`
	// CommitsPerRoundTrip counts the bbolt commits (each a pair of
	// fsyncs) of the axis and the edges per round trip;
	// WritesPerRoundTrip the durable writes they carried.
	CommitsPerRoundTrip float64 `json:"commits_per_round_trip"`
	WritesPerRoundTrip  float64 `json:"writes_per_round_trip"`
}

// benchStage is the time letters spent in one stage of their round trip,
// in ms.
type benchStage struct {
	Name    string  `json:"name"`
	Letters int     `json:"letters"`
	Mean    float64 `json:"mean_ms"`
	P50     float64 `json:"p50_ms"`
	P90     float64 `json:"p90_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
}

type benchTargets struct {
	MinFloorRatio float64 `json:"min_floor_ratio"`
	ThroughputMet bool    `json:"throughput_met"`
	MaxP99        float64 `json:"max_p99_ms"`
	LatencyMet    bool    `json:"latency_met"`
}

// benchCounts add up what the simulated DMSs saw over the whole run.
type benchCounts struct {
	Submitted  int `json:"submitted"`   // Submit calls that succeeded
	Documents  int `json:"documents"`   // letters that reached a recipient's inbox
	Taken      int `json:"taken"`       // of them, taken by the recipient's DMS (01 sent)
	Statuses01 int `json:"statuses_01"` // 01 statuses that reached the sender's inbox
	Stray      int `json:"stray"`       // inbox items that match no letter in flight (duplicates)
	Refused    int `json:"refused"`     // rejection notices in a sender's inbox
}

// Failures counts the letters that did not make their round trip.
func (r *benchResult) Failures() int {
	return r.Warmup.Failed + r.Throughput.Failed + r.Latency.Failed
}

// ---------------------------------------------------------------------------
// The run

// benchLetter is one prepared letter.
type benchLetter struct {
	from int    // index of the sender edge
	key  string // root key: the 01 comes back under it
	pkg  []byte
}

// benchFlight is a letter in flight. Its times mark the stages of its
// round trip (benchStageNames); zero until reached.
type benchFlight struct {
	phase *benchPhase
	start time.Time
	at    [benchStages - 1]time.Time // the end of every stage but the last
}

// The stages of a round trip, each timed from the end of the one before
// (the first from the start). A transit ends when the edge's consumer
// took the record (InboxItem.ReceivedAt, before verification); a DMS
// "sees" an item when its inbox listing returns it.
const benchStages = 6

var benchStageNames = [benchStages]string{
	"Submit: parse, sign, store in the sender's outbox",
	"to the recipient edge: publish, axis (verify, ledger, log), publish",
	"recipient edge: verify, store; its DMS sees the letter",
	"Take: parse, build and sign the 01, store",
	"01 to the sender edge: publish, axis (verify, ledger, log), publish",
	"sender edge: verify, store; its DMS sees the 01",
}

const (
	stageSubmitted = iota
	stageArrived
	stageSeen
	stageTaken
	stageBack
)

type benchPhase struct {
	name     string
	total    int
	slots    chan struct{} // closed loop: a token per letter in flight
	finished chan struct{} // closed when every letter is done or failed

	// Guarded by benchRun.mu.
	submitted, done, failed    int
	lat                        []time.Duration
	stages                     [benchStages][]time.Duration
	errs                       []string
	start, firstDone, lastDone time.Time
	end                        time.Time     // when the last letter finished
	usage                      [2]benchUsage // CPU use at the start and the end
	firstCall, lastCall        time.Time
	lastProgress               time.Time
	maxLag                     time.Duration
}

type benchRun struct {
	o      benchOptions
	world  *devWorld
	ids    []string    // edge IDs
	edges  []*bus.Edge // in the order of ids, once attached
	organs [][]string  // agencies per edge
	errc   chan error  // a DMS loop failed
	seq    int         // letters built so far (numbers them)
	blob   []byte      // attachment content
	attach int         // attachment size that makes a letter o.Size bytes

	signedBytes, signedCount atomic.Int64

	mu      sync.Mutex
	pending map[string]*benchFlight // by root key
	counts  benchCounts
}

// benchRunAll creates and starts the world, runs every step and returns
// the results. Letters that fail are counted in the result, not returned
// as an error; an error means the run could not be completed.
func benchRunAll(ctx context.Context, o benchOptions, logger *slog.Logger, warnings *benchLogCounts, stderr io.Writer) (_ *benchResult, err error) {
	res := &benchResult{
		Machine: benchMachineInfo(), Edges: o.Edges, Agencies: o.Agencies, Key: "RSA-2048", Size: o.Size,
		Targets: benchTargets{MinFloorRatio: benchTargetRatio, MaxP99: ms(benchTargetP99)},
	}
	var profile *os.File
	if o.CPUProfile != "" {
		// Created first, so that a bad path fails before the long set-up.
		if profile, err = os.Create(o.CPUProfile); err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		defer func() {
			if cerr := profile.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("--cpuprofile: %w", cerr)
			}
		}()
		res.Profile = o.CPUProfile
	}
	dir := o.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "truc-bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	base, err := freePorts("127.0.0.1", o.Edges+2)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "truc bench: creating a demo world in %s (RSA-2048 PKI, %d edges × %d agencies)...\n", dir, o.Edges, o.Agencies)
	m, err := devInit(dir, devOptions{Edges: o.Edges, Agencies: o.Agencies, Host: "127.0.0.1", BasePort: base, KeyType: demopki.RSA2048, Prefix: "truc"})
	if err != nil {
		return nil, err
	}
	b, err := newBenchRun(o, m)
	if err != nil {
		return nil, err
	}
	if err := b.calibrate(); err != nil {
		return nil, err
	}
	p2count, p2known := o.latencyLetters(0)
	n := o.Warmup + o.Letters
	if p2known {
		n += p2count
	}
	fmt.Fprintf(stderr, "truc bench: preparing %d letters of %d bytes...\n", n, o.Size)
	warm, err := b.letters(o.Warmup)
	if err != nil {
		return nil, err
	}
	p1, err := b.letters(o.Letters)
	if err != nil {
		return nil, err
	}
	var p2 []benchLetter
	if p2known {
		if p2, err = b.letters(p2count); err != nil {
			return nil, err
		}
	}
	var sizes int
	for _, l := range slices.Concat(warm, p1, p2) {
		sizes += len(l.pkg)
	}
	res.MeanSize = float64(sizes) / float64(n)

	fmt.Fprintf(stderr, "truc bench: starting the broker, the axis and %d edges (ports %d–%d)...\n", o.Edges, base, base+o.Edges+1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := startDevWorld(ctx, dir, m, logger, stderr)
	if err != nil {
		return nil, err
	}
	defer func() {
		w.stop()
		w.close()
	}()
	if err := b.bind(w); err != nil {
		return nil, err
	}
	var dmsWG sync.WaitGroup
	dmsCtx, stopDMS := context.WithCancel(ctx)
	defer func() {
		stopDMS()
		dmsWG.Wait()
	}()
	b.startDMS(dmsCtx, &dmsWG)
	prog := newBenchProgress(stderr)

	if len(warm) > 0 {
		ph, err := b.closedLoop(ctx, "warm-up", warm, min(o.Concurrency, len(warm)), prog)
		if err != nil {
			return nil, err
		}
		res.Warmup = b.result(ph, "closed")
		res.Warmup.Concurrency = min(o.Concurrency, len(warm))
	}

	key, ok := w.edges[0].seal.key.(*rsa.PrivateKey)
	if !ok || key.N.BitLen() != 2048 {
		return nil, errors.New("the demo seal key is not an RSA-2048 key")
	}
	fmt.Fprintf(stderr, "truc bench: measuring the floor: RSA-2048 signatures on %d goroutines for %s...\n", runtime.GOMAXPROCS(0), o.FloorTime)
	if res.Floor, err = benchMeasureFloor(ctx, key, o.FloorTime); err != nil {
		return nil, err
	}

	if profile != nil {
		if err := pprof.StartCPUProfile(profile); err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile() // a no-op after the stop below
	}
	warnBefore := warnings.snapshot()
	ph1, err := b.closedLoop(ctx, "throughput", p1, o.Concurrency, prog)
	if err != nil {
		return nil, err
	}
	res.Throughput = b.result(ph1, "closed")
	res.Throughput.Concurrency = o.Concurrency
	if res.Floor.RoundTripsPerSec > 0 {
		res.Throughput.FloorRatio = res.Throughput.RoundTripsPerSec / res.Floor.RoundTripsPerSec
	}
	if res.Throughput.CPUPerRoundTrip > 0 {
		res.Throughput.CPUFloorRatio = 2 * res.Floor.CPUPerSignature / res.Throughput.CPUPerRoundTrip
	}

	rate := o.Rate
	if rate == 0 {
		rate = res.Throughput.RoundTripsPerSec / 2
	}
	if rate <= 0 || math.IsInf(rate, 0) || math.IsNaN(rate) {
		return nil, fmt.Errorf("no rate for the latency step: the throughput step measured %v round trips/s", res.Throughput.RoundTripsPerSec)
	}
	if !p2known {
		// The count depends on the rate just measured. Building letters is
		// cheap next to the bus's work, but it falls inside the profile.
		p2count, _ = o.latencyLetters(rate)
		if int64(p2count)*int64(o.Size) > benchMaxMemory {
			return nil, fmt.Errorf("--duration: %d letters of %d bytes at %.1f/s would take more than %d MiB; ask for a shorter step or a --rate",
				p2count, o.Size, rate, benchMaxMemory>>20)
		}
		if p2, err = b.letters(p2count); err != nil {
			return nil, err
		}
	}
	ph2, err := b.openLoop(ctx, "latency", p2, rate, prog)
	if err != nil {
		return nil, err
	}
	if profile != nil {
		pprof.StopCPUProfile()
	}
	res.Warnings = warnings.since(warnBefore)
	res.Latency = b.result(ph2, "open")
	res.Latency.TargetRate = rate
	kept := res.Latency.Failed == 0 &&
		res.Latency.OfferedRate >= 0.95*rate && res.Latency.DeliveredRate >= 0.95*rate
	if len(p2) < 2 {
		kept = res.Latency.Failed == 0
	}
	res.Latency.RateKept = &kept

	res.Targets.ThroughputMet = res.Throughput.Failed == 0 && res.Throughput.FloorRatio >= benchTargetRatio
	res.Targets.LatencyMet = kept && res.Latency.P99 <= ms(benchTargetP99)
	if c := b.signedCount.Load(); c > 0 {
		res.MeanSigned = float64(b.signedBytes.Load()) / float64(c)
	}
	b.mu.Lock()
	res.Counts = b.counts
	b.mu.Unlock()
	res.Machine.LoadEnd = benchLoadAvg()
	return res, nil
}

// latencyLetters returns how many letters the latency step sends at rate
// (0: not known yet), and whether that count is known.
func (o benchOptions) latencyLetters(rate float64) (int, bool) {
	switch {
	case o.Duration == 0:
		return max(o.Letters/2, 1), true
	case o.Rate > 0:
		rate = o.Rate
	case rate == 0:
		return 0, false
	}
	return max(int(math.Ceil(rate*o.Duration.Seconds())), 1), true
}

// newBenchRun prepares a run over the demo world m: the agencies of each
// edge, in the manifest's order of edges.
func newBenchRun(o benchOptions, m *devManifest) (*benchRun, error) {
	b := &benchRun{o: o, errc: make(chan error, 2*len(m.Edges)), pending: map[string]*benchFlight{}}
	for _, e := range m.Edges {
		var organs []string
		for id, edge := range m.Agencies {
			if edge == e.ID {
				organs = append(organs, id)
			}
		}
		if len(organs) == 0 {
			return nil, fmt.Errorf("edge %s serves no agency", e.ID)
		}
		sort.Strings(organs)
		b.ids = append(b.ids, e.ID)
		b.organs = append(b.organs, organs)
	}
	return b, nil
}

// bind binds the run to the started world w.
func (b *benchRun) bind(w *devWorld) error {
	for _, id := range b.ids {
		n := w.edge(id)
		if n == nil {
			return fmt.Errorf("edge %s did not start", id)
		}
		b.edges = append(b.edges, n.edge)
	}
	b.world = w
	return nil
}

// ---------------------------------------------------------------------------
// Letters

// build returns letter number n with an attachment of attach bytes. Letter
// n goes from an agency of edge n mod E to an agency of another edge, in
// turn over every pair of edges and agencies.
func (b *benchRun) build(n, attach int) (benchLetter, error) {
	e := len(b.ids)
	from := n % e
	to := (from + 1 + (n/e)%(e-1)) % e
	sender := b.organs[from][(n/e)%len(b.organs[from])]
	recipient := b.organs[to][(n/(e*(e-1)))%len(b.organs[to])]
	now := time.Now()
	number := fmt.Sprintf("%07d", n)
	docID := sender + "," + now.In(edoc.ICT).Format(edoc.DateLayout) + "," + number + "/BENCH"
	content := b.blob[:attach]
	att := edoc.NewAttachment("cong-van-"+number+".bin", "application/octet-stream", func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(content)), nil
	})
	p, err := edoc.NewDocument(edoc.DocumentSpec{
		From:        edoc.Organization{OrganID: sender, OrganName: "Cơ quan " + sender, OrganAdd: "Hà Nội"},
		To:          []edoc.Organization{{OrganID: recipient, OrganName: "Cơ quan " + recipient}},
		DocumentID:  docID,
		Code:        edoc.Code{Number: number, Notation: "BENCH"},
		Date:        now,
		Place:       "Hà Nội",
		TypeName:    "Công văn",
		Subject:     "V/v đo hiệu năng trục liên thông, công văn số " + number,
		Signer:      edoc.SignerInfo{Competence: "TL. BỘ TRƯỞNG", Position: "Chánh Văn phòng", FullName: "Trần Thị B"},
		Attachments: []*edoc.Attachment{att},
	})
	if err != nil {
		return benchLetter{}, fmt.Errorf("building letter %d: %w", n, err)
	}
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		return benchLetter{}, fmt.Errorf("writing letter %d: %w", n, err)
	}
	key, err := bus.RootKey(sender, docID)
	if err != nil {
		return benchLetter{}, fmt.Errorf("letter %d: %w", n, err)
	}
	return benchLetter{from: from, key: key, pkg: buf.Bytes()}, nil
}

// calibrate finds the attachment size that makes a letter o.Size bytes:
// the largest whose letter is not larger.
func (b *benchRun) calibrate() error {
	b.blob = make([]byte, b.o.Size)
	if _, err := rand.Read(b.blob); err != nil {
		return err
	}
	size := func(a int) (int, error) {
		l, err := b.build(0, a)
		return len(l.pkg), err
	}
	smallest, err := size(1)
	if err != nil {
		return err
	}
	if smallest > b.o.Size {
		return &exitError{code: exitUsage, err: fmt.Errorf("bench: --size: a letter with a 1-byte attachment already takes %d bytes; ask for at least that", smallest)}
	}
	lo, hi := 1, b.o.Size // size(lo) ≤ Size; find the largest such lo
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		s, err := size(mid)
		if err != nil {
			return err
		}
		if s <= b.o.Size {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	b.attach = lo
	return nil
}

// letters builds the next n letters.
func (b *benchRun) letters(n int) ([]benchLetter, error) {
	out := make([]benchLetter, 0, n)
	for range n {
		l, err := b.build(b.seq, b.attach)
		if err != nil {
			return nil, err
		}
		b.seq++
		out = append(out, l)
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// The DMS side

type benchTake struct{ id, key string }

// startDMS starts, on every edge, the loop that watches the inbox and the
// workers that take delivered letters.
func (b *benchRun) startDMS(ctx context.Context, wg *sync.WaitGroup) {
	for i := range b.edges {
		takes := make(chan benchTake, 1<<14)
		wg.Add(1 + b.o.Takers)
		go func() {
			defer wg.Done()
			if err := b.watch(ctx, i, takes); err != nil && ctx.Err() == nil {
				b.errc <- err
			}
		}()
		for range b.o.Takers {
			go func() {
				defer wg.Done()
				b.take(ctx, i, takes)
			}()
		}
	}
}

// watch follows edge i's inbox as a DMS does: documents go to the takers,
// statuses 01 end the round trip of their letter, rejection notices fail
// it.
func (b *benchRun) watch(ctx context.Context, i int, takes chan<- benchTake) error {
	e := b.edges[i]
	var cursor uint64
	for {
		if err := e.WaitInbox(ctx, cursor); err != nil {
			return fmt.Errorf("waiting on the inbox of edge %s: %w", e.ID(), err)
		}
		items, err := e.Inbox(ctx, cursor, 512)
		if err != nil {
			return fmt.Errorf("listing the inbox of edge %s: %w", e.ID(), err)
		}
		now := time.Now()
		if len(items) == 0 {
			// The store's last sequence number is past items it does not
			// list; do not spin on it.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		for _, it := range items {
			cursor = it.Seq
			switch it.Type {
			case bus.TypeDocument:
				b.mu.Lock()
				b.counts.Documents++
				b.mu.Unlock()
				b.mark(it.Key, stageArrived, it.ReceivedAt)
				b.mark(it.Key, stageSeen, now)
				if !it.TakenAt.IsZero() {
					continue
				}
				select {
				case takes <- benchTake{id: it.ID, key: it.Key}:
				case <-ctx.Done():
					return ctx.Err()
				}
			case bus.TypeStatus:
				if it.StatusCode != string(edoc.StatusArrived) {
					b.stray()
					continue
				}
				b.mu.Lock()
				b.counts.Statuses01++
				b.mu.Unlock()
				b.mark(it.Key, stageBack, it.ReceivedAt)
				if !b.finish(it.Key, now, nil) {
					b.stray()
				}
			case bus.TypeRejection:
				b.mu.Lock()
				b.counts.Refused++
				b.mu.Unlock()
				if !b.finish(it.Key, now, fmt.Errorf("edge %s: a recipient edge refused the letter (notice %s)", e.ID(), it.ID)) {
					b.stray()
				}
			default:
				b.stray()
			}
		}
	}
}

func (b *benchRun) stray() {
	b.mu.Lock()
	b.counts.Stray++
	b.mu.Unlock()
}

// take takes delivered letters on edge i: the edge signs and queues their
// 01. A failure is retried twice, then fails the letter.
func (b *benchRun) take(ctx context.Context, i int, takes <-chan benchTake) {
	e := b.edges[i]
	for {
		var t benchTake
		select {
		case <-ctx.Done():
			return
		case t = <-takes:
		}
		var err error
		for try := 0; try < 3; try++ {
			if _, err = e.Take(ctx, t.id, nil); err == nil || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			b.finish(t.key, time.Now(), fmt.Errorf("taking %s at edge %s: %w", t.id, e.ID(), err))
		default:
			b.mark(t.key, stageTaken, time.Now())
			b.mu.Lock()
			b.counts.Taken++
			b.mu.Unlock()
		}
	}
}

// submit hands letter l to its sender edge as a DMS does; its round trip
// counts from start.
func (b *benchRun) submit(ctx context.Context, ph *benchPhase, l benchLetter, start time.Time) {
	call := time.Now()
	b.mu.Lock()
	b.pending[l.key] = &benchFlight{phase: ph, start: start}
	ph.submitted++
	if ph.firstCall.IsZero() {
		ph.firstCall = call
	}
	ph.lastCall = call
	ph.maxLag = max(ph.maxLag, call.Sub(start))
	b.mu.Unlock()
	e := b.edges[l.from]
	entry, _, err := e.Submit(ctx, "truc-bench", nil, l.pkg, "")
	if err != nil {
		if ctx.Err() == nil {
			b.finish(l.key, time.Now(), fmt.Errorf("submitting at edge %s: %w", e.ID(), err))
		}
		return
	}
	b.signedBytes.Add(int64(len(entry.Message.Package)))
	b.signedCount.Add(1)
	b.mark(l.key, stageSubmitted, time.Now())
	b.mu.Lock()
	b.counts.Submitted++
	b.mu.Unlock()
}

// mark records when the letter with root key key reached stage i.
func (b *benchRun) mark(key string, i int, t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if f, ok := b.pending[key]; ok {
		f.at[i] = t
	}
}

// finish ends the round trip of the letter with root key key, at at, or
// fails it with err. It reports false when no letter with that key is in
// flight.
func (b *benchRun) finish(key string, at time.Time, err error) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.pending[key]
	if !ok {
		return false
	}
	delete(b.pending, key)
	ph := f.phase
	if err != nil {
		ph.failed++
		if len(ph.errs) < 5 {
			ph.errs = append(ph.errs, err.Error())
		}
	} else {
		ph.done++
		ph.lat = append(ph.lat, at.Sub(f.start))
		if !slices.ContainsFunc(f.at[:], time.Time.IsZero) {
			// A stage can end a little before the one before it is marked
			// (the submitting goroutine resumes after the letter arrived):
			// it then counts 0, and the next starts where the last ended,
			// so that the stages still add up to the round trip.
			prev := f.start
			for i, t := range append(f.at[:len(f.at):len(f.at)], at) {
				if t.Before(prev) {
					t = prev
				}
				ph.stages[i] = append(ph.stages[i], t.Sub(prev))
				prev = t
			}
		}
		if ph.firstDone.IsZero() || at.Before(ph.firstDone) {
			ph.firstDone = at
		}
		if at.After(ph.lastDone) {
			ph.lastDone = at
		}
	}
	ph.lastProgress = time.Now()
	if ph.slots != nil {
		select {
		case <-ph.slots:
		default:
		}
	}
	if ph.done+ph.failed == ph.total {
		close(ph.finished)
	}
	return true
}

// ---------------------------------------------------------------------------
// Steps

func (b *benchRun) newPhase(name string, total int) *benchPhase {
	u := b.usageNow()
	now := time.Now()
	return &benchPhase{name: name, total: total, finished: make(chan struct{}), start: now, lastProgress: now, usage: [2]benchUsage{u}}
}

// closedLoop sends letters keeping conc of them in flight, and returns once
// every one has made its round trip or failed.
func (b *benchRun) closedLoop(ctx context.Context, name string, letters []benchLetter, conc int, prog *benchProgress) (*benchPhase, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ph := b.newPhase(name, len(letters))
	ph.slots = make(chan struct{}, conc)
	go func() {
		for _, l := range letters {
			select {
			case ph.slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go b.submit(ctx, ph, l, time.Now())
		}
	}()
	return ph, b.wait(ctx, ph, prog)
}

// openLoop starts letter k at k/rate seconds after the step's start,
// whatever is still in flight, and times each round trip from that
// schedule.
func (b *benchRun) openLoop(ctx context.Context, name string, letters []benchLetter, rate float64, prog *benchProgress) (*benchPhase, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ph := b.newPhase(name, len(letters))
	t0 := ph.start
	go func() {
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for k, l := range letters {
			at := t0.Add(time.Duration(float64(k) / rate * float64(time.Second)))
			if d := time.Until(at); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
			}
			go b.submit(ctx, ph, l, at)
		}
	}()
	return ph, b.wait(ctx, ph, prog)
}

// wait shows progress until every letter of ph is done, the bus stops, or
// nothing completes for o.Stall.
func (b *benchRun) wait(ctx context.Context, ph *benchPhase, prog *benchProgress) error {
	prog.begin()
	tick := time.NewTicker(prog.every)
	defer tick.Stop()
	snapshot := func() (done, failed, inflight int, last time.Time) {
		b.mu.Lock()
		defer b.mu.Unlock()
		return ph.done, ph.failed, ph.submitted - ph.done - ph.failed, ph.lastProgress
	}
	for {
		select {
		case <-ph.finished:
			ph.usage[1] = b.usageNow()
			ph.end = time.Now()
			done, failed, _, _ := snapshot()
			prog.end(ph.name, done, failed, ph.total, time.Since(ph.start))
			return nil
		case <-ctx.Done():
			prog.abort()
			return fmt.Errorf("%s step interrupted: %w", ph.name, ctx.Err())
		case err := <-b.world.errc:
			prog.abort()
			return fmt.Errorf("the bus stopped during the %s step: %w", ph.name, err)
		case err := <-b.errc:
			prog.abort()
			return fmt.Errorf("%s step: %w", ph.name, err)
		case now := <-tick.C:
			done, failed, inflight, last := snapshot()
			prog.show(ph.name, done, failed, ph.total, inflight)
			if now.Sub(last) > b.o.Stall {
				prog.abort()
				return fmt.Errorf("%s step: no round trip completed for %s (%d of %d done, %d failed, %d in flight); the bus stalled",
					ph.name, b.o.Stall, done, ph.total, failed, inflight)
			}
		}
	}
}

// result summarises a finished step.
func (b *benchRun) result(ph *benchPhase, mode string) benchPhaseResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := benchPhaseResult{Mode: mode, Letters: ph.total, Completed: ph.done, Failed: ph.failed, Errors: ph.errs}
	if el := ph.lastDone.Sub(ph.start); ph.done > 0 && el > 0 {
		r.Seconds = el.Seconds()
		r.RoundTripsPerSec = float64(ph.done) / el.Seconds()
	}
	if mode == "open" {
		if span := ph.lastCall.Sub(ph.firstCall); ph.submitted > 1 && span > 0 {
			r.OfferedRate = float64(ph.submitted-1) / span.Seconds()
		}
		r.MaxStartLag = ms(ph.maxLag)
		if span := ph.lastDone.Sub(ph.firstDone); ph.done > 1 && span > 0 {
			r.DeliveredRate = float64(ph.done-1) / span.Seconds()
		}
	}
	if el := ph.end.Sub(ph.start); el > 0 {
		u0, u1 := ph.usage[0], ph.usage[1]
		r.ProcessCores = (u1.process - u0.process).Seconds() / el.Seconds()
		if ph.done > 0 {
			r.CPUPerRoundTrip = ms(u1.process-u0.process) / float64(ph.done)
			r.CommitsPerRoundTrip = float64(u1.commits-u0.commits) / float64(ph.done)
			r.WritesPerRoundTrip = float64(u1.writes-u0.writes) / float64(ph.done)
		}
		if t := u1.total - u0.total; t > 0 {
			r.MachineBusy = float64(u1.busy-u0.busy) / float64(t)
			r.MachineSteal = float64(u1.steal-u0.steal) / float64(t)
		}
	}
	lat := slices.Clone(ph.lat)
	slices.Sort(lat)
	r.P50, r.P90, r.P99 = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.90)), ms(percentile(lat, 0.99))
	if len(lat) > 0 {
		r.Max = ms(lat[len(lat)-1])
		var sum time.Duration
		for _, x := range lat {
			sum += x
		}
		r.Mean = ms(sum / time.Duration(len(lat)))
	}
	for i, d := range ph.stages {
		if len(d) == 0 {
			continue
		}
		d = slices.Sorted(slices.Values(d))
		var sum time.Duration
		for _, x := range d {
			sum += x
		}
		r.Stages = append(r.Stages, benchStage{
			Name: benchStageNames[i], Letters: len(d), Mean: ms(sum / time.Duration(len(d))),
			P50: ms(percentile(d, 0.50)), P90: ms(percentile(d, 0.90)), P99: ms(percentile(d, 0.99)), Max: ms(d[len(d)-1]),
		})
	}
	return r
}

// percentile returns the nearest-rank q-quantile of sorted d.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

// ms converts d to milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// benchMeasureFloor counts RSA-2048 PKCS#1 v1.5 SHA-256 signatures with key
// on GOMAXPROCS goroutines for d.
func benchMeasureFloor(ctx context.Context, key *rsa.PrivateKey, d time.Duration) (benchFloor, error) {
	n := runtime.GOMAXPROCS(0)
	digest := sha256.Sum256([]byte("truc bench floor"))
	var count atomic.Int64
	var firstErr atomic.Pointer[error]
	u0 := benchUsageNow()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:]); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	u1 := benchUsageNow()
	if p := firstErr.Load(); p != nil {
		return benchFloor{}, fmt.Errorf("measuring the floor: %w", *p)
	}
	if err := ctx.Err(); err != nil {
		return benchFloor{}, err
	}
	f := benchFloor{Goroutines: n, Signatures: count.Load(), Seconds: el.Seconds()}
	f.SignaturesPerSec = float64(f.Signatures) / el.Seconds()
	f.RoundTripsPerSec = f.SignaturesPerSec / 2
	f.ProcessCores = (u1.process - u0.process).Seconds() / el.Seconds()
	if f.Signatures > 0 {
		f.CPUPerSignature = ms(u1.process-u0.process) / float64(f.Signatures)
	}
	if t := u1.total - u0.total; t > 0 {
		f.MachineBusy = float64(u1.busy-u0.busy) / float64(t)
	}
	return f, nil
}

// ---------------------------------------------------------------------------
// Machine, ports, progress, output

func benchMachineInfo() benchMachine {
	m := benchMachine{NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH, CPU: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	m.LoadStart = benchLoadAvg()
	return m
}

// benchUsage is a reading of CPU use: this process's CPU time, and the
// machine's busy, stolen and total jiffies from /proc/stat; and of the
// stores' commit counters.
type benchUsage struct {
	process            time.Duration
	busy, steal, total uint64
	commits, writes    int64
}

func (b *benchRun) usageNow() benchUsage {
	u := benchUsageNow()
	if b.world == nil {
		return u
	}
	add := func(s *boltstore.Store) {
		if s != nil {
			st := s.CommitStats()
			u.commits += st.Commits
			u.writes += st.Requests
		}
	}
	add(b.world.axis.store)
	for _, e := range b.world.edges {
		add(e.store)
	}
	return u
}

func benchUsageNow() benchUsage {
	var u benchUsage
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.process = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return u
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return u
	}
	// user nice system idle iowait irq softirq steal ...
	var v [8]uint64
	for i := range v {
		v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
		u.total += v[i]
	}
	u.busy = u.total - v[3] - v[4] - v[7]
	u.steal = v[7]
	return u
}

// benchLoadAvg returns the 1, 5 and 15 minute load averages, "" where the
// system does not say.
func benchLoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// benchProgress shows a step's progress on standard error: one line
// rewritten in place on a terminal, else a line every 5 s.
type benchProgress struct {
	w     io.Writer
	tty   bool
	every time.Duration
	width int
	lastT time.Time
	lastN int
}

func newBenchProgress(w io.Writer) *benchProgress {
	p := &benchProgress{w: w, every: 5 * time.Second}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty, p.every = true, 250*time.Millisecond
		}
	}
	return p
}

func (p *benchProgress) begin() {
	p.lastT, p.lastN, p.width = time.Now(), 0, 0
}

func (p *benchProgress) show(name string, done, failed, total, inflight int) {
	now := time.Now()
	rate := 0.0
	if dt := now.Sub(p.lastT).Seconds(); dt > 0 {
		rate = float64(done+failed-p.lastN) / dt
	}
	p.lastT, p.lastN = now, done+failed
	line := fmt.Sprintf("truc bench: %-10s %6d/%d done", name, done, total)
	if failed > 0 {
		line += fmt.Sprintf(", %d failed", failed)
	}
	line += fmt.Sprintf(", %7.1f/s now, %4d in flight", rate, inflight)
	p.put(line)
}

func (p *benchProgress) end(name string, done, failed, total int, el time.Duration) {
	line := fmt.Sprintf("truc bench: %-10s %6d/%d done", name, done, total)
	if failed > 0 {
		line += fmt.Sprintf(", %d failed", failed)
	}
	line += fmt.Sprintf(" in %.1f s", el.Seconds())
	p.put(line)
	p.abort()
}

func (p *benchProgress) put(line string) {
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	pad := max(p.width-len(line), 0)
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
}

// abort ends a rewritten line.
func (p *benchProgress) abort() {
	if p.tty && p.width > 0 {
		fmt.Fprintln(p.w)
	}
	p.width = 0
}

func printBenchText(w io.Writer, r *benchResult) {
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	fmt.Fprintf(w, "truc bench: %d edges × %d agencies, %s, letters of %d B (%.0f B mean as submitted, %.0f B signed)\n",
		r.Edges, r.Agencies, r.Key, r.Size, r.MeanSize, r.MeanSigned)
	fmt.Fprintf(w, "machine:    %d CPUs (GOMAXPROCS %d), %s, %s; load average %s at the start, %s at the end\n",
		r.Machine.NumCPU, r.Machine.GOMAXPROCS, r.Machine.CPU, r.Machine.Go, r.Machine.LoadStart, r.Machine.LoadEnd)
	fmt.Fprintf(w, "floor:      %.1f RSA-2048 signatures/s on %d goroutines ÷ 2 = %.1f round trips/s (this process %.2f cores, %.2f ms per signature; machine %.0f %% busy)\n",
		r.Floor.SignaturesPerSec, r.Floor.Goroutines, r.Floor.RoundTripsPerSec, r.Floor.ProcessCores, r.Floor.CPUPerSignature, 100*r.Floor.MachineBusy)
	t := r.Throughput
	fmt.Fprintf(w, "throughput: %d round trips in %.2f s with %d in flight: %.1f round trips/s = %.3f × floor (target ≥ %.2f: %s)\n",
		t.Completed, t.Seconds, t.Concurrency, t.RoundTripsPerSec, t.FloorRatio, r.Targets.MinFloorRatio, verdict(r.Targets.ThroughputMet))
	fmt.Fprintf(w, "            latency in the loop: mean %.1f ms, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n", t.Mean, t.P50, t.P90, t.P99, t.Max)
	fmt.Fprintf(w, "            CPU: this process %.2f cores, %.1f ms per round trip (two signatures: %.1f ms) = %.3f × floor per CPU second; machine %.0f %% busy, %.0f %% stolen\n",
		t.ProcessCores, t.CPUPerRoundTrip, 2*r.Floor.CPUPerSignature, t.CPUFloorRatio, 100*t.MachineBusy, 100*t.MachineSteal)
	fmt.Fprintf(w, "            bbolt: %.1f commits (fsync pairs) and %.1f durable writes per round trip\n", t.CommitsPerRoundTrip, t.WritesPerRoundTrip)
	printBenchStages(w, t.Stages)
	l := r.Latency
	kept := "rate kept"
	if l.RateKept == nil || !*l.RateKept {
		kept = "rate NOT kept"
	}
	fmt.Fprintf(w, "latency:    %d letters offered at %.1f/s (started at %.1f/s, at most %.1f ms late), delivered at %.1f/s: %s\n",
		l.Letters, l.TargetRate, l.OfferedRate, l.MaxStartLag, l.DeliveredRate, kept)
	fmt.Fprintf(w, "            mean %.1f ms, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (target p99 ≤ %.0f ms: %s)\n",
		l.Mean, l.P50, l.P90, l.P99, l.Max, r.Targets.MaxP99, verdict(r.Targets.LatencyMet))
	fmt.Fprintf(w, "            CPU: this process %.2f cores, %.1f ms per round trip; machine %.0f %% busy, %.0f %% stolen\n",
		l.ProcessCores, l.CPUPerRoundTrip, 100*l.MachineBusy, 100*l.MachineSteal)
	fmt.Fprintf(w, "            bbolt: %.1f commits (fsync pairs) and %.1f durable writes per round trip\n", l.CommitsPerRoundTrip, l.WritesPerRoundTrip)
	printBenchStages(w, l.Stages)
	c := r.Counts
	fmt.Fprintf(w, "counts:     %d submitted, %d delivered, %d taken, %d statuses 01 back, %d stray, %d refused\n",
		c.Submitted, c.Documents, c.Taken, c.Statuses01, c.Stray, c.Refused)
	for _, ph := range []struct {
		name string
		r    benchPhaseResult
	}{{"warm-up", r.Warmup}, {"throughput", r.Throughput}, {"latency", r.Latency}} {
		if ph.r.Failed > 0 {
			fmt.Fprintf(w, "failed:     %d letters in the %s step, first: %s\n", ph.r.Failed, ph.name, strings.Join(ph.r.Errors, "; "))
		}
	}
	if len(r.Warnings) > 0 {
		keys := slices.Collect(maps.Keys(r.Warnings))
		slices.SortFunc(keys, func(a, b string) int { return cmp.Or(r.Warnings[b]-r.Warnings[a], strings.Compare(a, b)) })
		total := 0
		for _, k := range keys {
			total += r.Warnings[k]
		}
		fmt.Fprintf(w, "warnings:   %d logged by the nodes during the measured steps; the most frequent:\n", total)
		for _, k := range keys[:min(len(keys), 5)] {
			fmt.Fprintf(w, "            %6d× %s\n", r.Warnings[k], k)
		}
	}
	if r.Profile != "" {
		fmt.Fprintf(w, "profile:    %s (go tool pprof -top %s)\n", r.Profile, r.Profile)
	}
}

func printBenchStages(w io.Writer, stages []benchStage) {
	if len(stages) == 0 {
		return
	}
	fmt.Fprintf(w, "            %-70s %8s %8s %8s %8s\n", "stage (ms)", "mean", "p50", "p99", "max")
	for _, s := range stages {
		fmt.Fprintf(w, "            %-70s %8.1f %8.1f %8.1f %8.1f\n", s.Name, s.Mean, s.P50, s.P99, s.Max)
	}
}

// benchLogCounter is a slog.Handler that counts the warnings and errors of
// the nodes, whatever the level shown, and passes records on to next.
type benchLogCounter struct {
	next   slog.Handler
	counts *benchLogCounts
}

func (h benchLogCounter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h benchLogCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.counts.add(r.Level.String() + " " + benchLogKey(r.Message))
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h benchLogCounter) WithAttrs(as []slog.Attr) slog.Handler {
	return benchLogCounter{next: h.next.WithAttrs(as), counts: h.counts}
}

func (h benchLogCounter) WithGroup(name string) slog.Handler {
	return benchLogCounter{next: h.next.WithGroup(name), counts: h.counts}
}

// benchLogKey groups log messages: every run of digits becomes N, and the
// key is cut at 160 bytes.
func benchLogKey(msg string) string {
	var b strings.Builder
	digits := false
	for _, r := range msg {
		if r >= '0' && r <= '9' {
			if !digits {
				b.WriteByte('N')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteRune(r)
		if b.Len() >= 160 {
			break
		}
	}
	return b.String()
}

type benchLogCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *benchLogCounts) add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[key]++
}

func (c *benchLogCounts) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// since returns the counts added after snapshot before, nil when none.
func (c *benchLogCounts) since(before map[string]int) map[string]int {
	var out map[string]int
	for k, n := range c.snapshot() {
		if d := n - before[k]; d > 0 {
			if out == nil {
				out = map[string]int{}
			}
			out[k] = d
		}
	}
	return out
}
