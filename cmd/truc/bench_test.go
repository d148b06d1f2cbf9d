package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBenchShortRun runs the whole harness on a tiny load and checks that
// the report holds together: every count adds up and the derived figures
// follow from the measured ones. It checks no timing.
func TestBenchShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker, an axis and two edges")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	profile := filepath.Join(t.TempDir(), "cpu.out")
	var stdout, stderr bytes.Buffer
	err := runBench(ctx, []string{
		"--edges", "2", "--agencies", "3", "--letters", "20", "--warmup", "4", "--concurrency", "6",
		"--size", "3KB", "--floor-time", "200ms", "--stall", "30s", "--cpuprofile", profile, "--json",
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("runBench: %v\nstderr:\n%s", err, stderr.String())
	}
	var r benchResult
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("the output does not parse as the result: %v\n%s", err, stdout.String())
	}

	// The steps: every letter made its round trip.
	for _, c := range []struct {
		name          string
		got           benchPhaseResult
		letters, conc int
		mode          string
	}{
		{"warm-up", r.Warmup, 4, 4, "closed"},
		{"throughput", r.Throughput, 20, 6, "closed"},
		{"latency", r.Latency, 10, 0, "open"},
	} {
		g := c.got
		if g.Mode != c.mode || g.Letters != c.letters || g.Completed != c.letters || g.Failed != 0 || len(g.Errors) != 0 || g.Concurrency != c.conc {
			t.Errorf("%s: %+v; want mode %s, %d letters all completed, concurrency %d", c.name, g, c.mode, c.letters, c.conc)
		}
		if !(0 < g.P50 && g.P50 <= g.P90 && g.P90 <= g.P99 && g.P99 <= g.Max) {
			t.Errorf("%s: latencies not ordered: p50 %v p90 %v p99 %v max %v", c.name, g.P50, g.P90, g.P99, g.Max)
		}
		if g.Seconds <= 0 || !near(g.RoundTripsPerSec, float64(g.Completed)/g.Seconds) {
			t.Errorf("%s: %v round trips/s, want %d / %v s", c.name, g.RoundTripsPerSec, g.Completed, g.Seconds)
		}
		if !(g.P50 > 0 && g.Mean > 0 && g.Mean <= g.Max) {
			t.Errorf("%s: mean %v ms outside (0, max %v]", c.name, g.Mean, g.Max)
		}
		// Every letter was timed through the six stages, whose means add
		// up to the mean round trip.
		if len(g.Stages) != benchStages {
			t.Errorf("%s: %d stages, want %d", c.name, len(g.Stages), benchStages)
		}
		var sum float64
		for i, st := range g.Stages {
			if st.Name != benchStageNames[i] || st.Letters != g.Completed || !(0 <= st.P50 && st.P50 <= st.P90 && st.P90 <= st.P99 && st.P99 <= st.Max) {
				t.Errorf("%s: stage %d: %+v", c.name, i, st)
			}
			sum += st.Mean
		}
		if math.Abs(sum-g.Mean) > 0.01 {
			t.Errorf("%s: the stages' means add up to %v ms, the round trips' mean is %v ms", c.name, sum, g.Mean)
		}
		// At least: the sender's outbox, the axis's record of the letter
		// and of its 01, the recipient's inbox and its take, the sender's
		// inbox; commits may carry several writes.
		if g.WritesPerRoundTrip < 6 || g.CommitsPerRoundTrip <= 0 || g.CommitsPerRoundTrip > g.WritesPerRoundTrip {
			t.Errorf("%s: %v commits and %v writes per round trip", c.name, g.CommitsPerRoundTrip, g.WritesPerRoundTrip)
		}
		if g.CPUPerRoundTrip <= 0 || g.ProcessCores <= 0 {
			t.Errorf("%s: CPU use not measured: %v ms per round trip, %v cores", c.name, g.CPUPerRoundTrip, g.ProcessCores)
		}
	}
	if got := r.Failures(); got != 0 {
		t.Errorf("Failures() = %d, want 0", got)
	}

	// What the simulated DMSs saw adds up: 34 letters, each delivered,
	// taken and answered with one 01, nothing else.
	want := benchCounts{Submitted: 34, Documents: 34, Taken: 34, Statuses01: 34}
	if r.Counts != want {
		t.Errorf("counts %+v, want %+v", r.Counts, want)
	}

	// Derived figures follow from the measured ones.
	f := r.Floor
	if f.Signatures <= 0 || f.Goroutines <= 0 || f.Seconds < 0.2 || !near(f.SignaturesPerSec, float64(f.Signatures)/f.Seconds) || !near(f.RoundTripsPerSec, f.SignaturesPerSec/2) {
		t.Errorf("floor %+v does not add up", f)
	}
	if !near(r.Throughput.FloorRatio, r.Throughput.RoundTripsPerSec/f.RoundTripsPerSec) {
		t.Errorf("floor ratio %v, want %v / %v", r.Throughput.FloorRatio, r.Throughput.RoundTripsPerSec, f.RoundTripsPerSec)
	}
	if !near(r.Throughput.CPUFloorRatio, 2*f.CPUPerSignature/r.Throughput.CPUPerRoundTrip) {
		t.Errorf("CPU floor ratio %v, want 2 × %v / %v", r.Throughput.CPUFloorRatio, f.CPUPerSignature, r.Throughput.CPUPerRoundTrip)
	}
	if !near(r.Latency.TargetRate, r.Throughput.RoundTripsPerSec/2) {
		t.Errorf("latency step offered %v/s, want half of %v", r.Latency.TargetRate, r.Throughput.RoundTripsPerSec)
	}
	if r.Latency.RateKept == nil || r.Latency.OfferedRate <= 0 || r.Latency.DeliveredRate <= 0 {
		t.Errorf("the latency step does not say whether the rate was kept: %+v", r.Latency)
	}
	if r.Targets.ThroughputMet != (r.Throughput.FloorRatio >= 0.40) {
		t.Errorf("throughput verdict %v for ratio %v", r.Targets.ThroughputMet, r.Throughput.FloorRatio)
	}
	if r.Targets.LatencyMet != (*r.Latency.RateKept && r.Latency.P99 <= 100) {
		t.Errorf("latency verdict %v for p99 %v ms, rate kept %v", r.Targets.LatencyMet, r.Latency.P99, *r.Latency.RateKept)
	}

	// Letters are the asked size as submitted, larger once signed.
	if r.Size != 3072 || r.MeanSize > 3072 || r.MeanSize < 3072-16 {
		t.Errorf("letters of %v bytes on average, want at most and close to %d", r.MeanSize, r.Size)
	}
	if r.MeanSigned <= r.MeanSize {
		t.Errorf("signed letters of %v bytes, not more than the %v submitted", r.MeanSigned, r.MeanSize)
	}
	if r.Edges != 2 || r.Agencies != 3 || r.Key != "RSA-2048" || r.Machine.NumCPU <= 0 || r.Machine.GOMAXPROCS <= 0 || r.Machine.Go == "" {
		t.Errorf("run description %+v", r)
	}

	// The CPU profile is a gzipped pprof file.
	if r.Profile != profile {
		t.Errorf("profile %q, want %q", r.Profile, profile)
	}
	if b, err := os.ReadFile(profile); err != nil || len(b) < 100 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("the CPU profile is not a gzipped pprof file (%d bytes, %v)", len(b), err)
	}

	// Progress went to stderr (not a terminal: whole lines), ending each step.
	for _, line := range []string{"warm-up         4/4 done", "throughput     20/20 done", "latency        10/10 done"} {
		if !strings.Contains(stderr.String(), "truc bench: "+line) {
			t.Errorf("stderr lacks %q:\n%s", line, stderr.String())
		}
	}

	// The text report says the same.
	var text bytes.Buffer
	printBenchText(&text, &r)
	for _, s := range []string{
		"2 edges × 3 agencies, RSA-2048, letters of 3072 B",
		"counts:     34 submitted, 34 delivered, 34 taken, 34 statuses 01 back, 0 stray, 0 refused",
		"throughput: 20 round trips in ",
		"latency:    10 letters offered at ",
	} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("the text report lacks %q:\n%s", s, text.String())
		}
	}
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b))
}

func TestBenchUsage(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"one edge", []string{"--edges", "1"}, "--edges: 2 to 6"},
		{"too many edges", []string{"--edges", "7"}, "--edges: 2 to 6"},
		{"one letter", []string{"--letters", "1"}, "--letters: at least 2"},
		{"no concurrency", []string{"--concurrency", "0"}, "--concurrency: at least 1"},
		{"negative rate", []string{"--rate", "-3"}, "--rate: a positive number"},
		{"negative duration", []string{"--duration", "-1s"}, "--duration: must not be negative"},
		{"size unit", []string{"--size", "5XB"}, `--size: "5XB": the unit must be`},
		{"size zero", []string{"--size", "0"}, "--size: \"0\": between 1 byte and 1 GiB"},
		{"size over the package limit", []string{"--size", "16MiB"}, "--size: at most 16711680 bytes"},
		{"letters over the memory cap", []string{"--size", "1MiB", "--letters", "1000"}, "--size × letters: every letter is built in memory"},
		{"floor too short", []string{"--floor-time", "1ms"}, "--floor-time: at least 100ms"},
		{"bad log level", []string{"--log-level", "loud"}, "--log-level"},
		{"an argument", []string{"extra"}, "bench takes no arguments"},
		{"unknown flag", []string{"--fast"}, "flag provided but not defined"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runBench(context.Background(), c.args, &stdout, &stderr)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitUsage {
				t.Fatalf("err = %v, want a usage error", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %q, want it to mention %q", err, c.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
		})
	}
}

// A size no letter fits in is refused before any node starts.
func TestBenchSizeTooSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("creates a demo PKI")
	}
	var stdout, stderr bytes.Buffer
	err := runBench(context.Background(), []string{"--edges", "2", "--agencies", "1", "--size", "200"}, &stdout, &stderr)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(err.Error(), "--size: a letter with a 1-byte attachment already takes") {
		t.Fatalf("err = %v, want a usage error about --size", err)
	}
	if strings.Contains(stderr.String(), "starting the broker") {
		t.Errorf("the nodes were started:\n%s", stderr.String())
	}
}

func TestBenchHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := runBench(context.Background(), []string{"-h"}, &stdout, &stderr); !errors.Is(err, flagHelp) {
		t.Fatalf("err = %v, want flagHelp", err)
	}
	for _, s := range []string{"Usage: truc bench", "round trip", "floor", "Example", "--cpuprofile"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("help lacks %q", s)
		}
	}
}

func TestBenchParseByteSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
		err  bool
	}{
		{"5120", 5120, false},
		{"5KB", 5120, false},
		{"5 KiB", 5120, false},
		{"5k", 5120, false},
		{"1.5KB", 1536, false},
		{"2MB", 2 << 20, false},
		{"2MiB", 2 << 20, false},
		{"100B", 100, false},
		{"", 0, true},
		{"KB", 0, true},
		{"5XB", 0, true},
		{"-5", 0, true},
		{"0", 0, true},
		{"2GB", 0, true},
		{"1.2.3KB", 0, true},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := parseByteSize(c.in)
			if (err != nil) != c.err || got != c.want {
				t.Errorf("parseByteSize(%q) = %d, %v; want %d, error %v", c.in, got, err, c.want, c.err)
			}
		})
	}
}

func TestBenchPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		name string
		d    []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", d[:1], 0.99, time.Millisecond},
		{"median of 200", d, 0.50, 100 * time.Millisecond},
		{"p90 of 200", d, 0.90, 180 * time.Millisecond},
		{"p99 of 200", d, 0.99, 198 * time.Millisecond},
		{"max", d, 1, 200 * time.Millisecond},
		{"p99 of 10 is the largest", d[:10], 0.99, 10 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := percentile(c.d, c.q); got != c.want {
				t.Errorf("percentile(%d values, %v) = %v, want %v", len(c.d), c.q, got, c.want)
			}
		})
	}
}

func TestBenchLogCounter(t *testing.T) {
	var shown bytes.Buffer
	counts := &benchLogCounts{}
	logger, err := newLogger(logConfig{Level: "error"}, &shown)
	if err != nil {
		t.Fatal(err)
	}
	h := benchLogCounter{next: logger.Handler(), counts: counts}
	log := slog.New(h).With("node", "edge")
	before := counts.snapshot()
	log.Info("not counted")
	log.Warn("kafka-go: partition 3 of truc.submit at offset 1200: i/o timeout")
	log.Warn("kafka-go: partition 12 of truc.submit at offset 7: i/o timeout")
	log.Error("boom 42")
	got := counts.since(before)
	want := map[string]int{
		"WARN kafka-go: partition N of truc.submit at offset N: i/o timeout": 2,
		"ERROR boom N": 1,
	}
	if len(got) != len(want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("count of %q = %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
	if s := shown.String(); strings.Contains(s, "kafka-go") || !strings.Contains(s, "boom 42") || !strings.Contains(s, "node=edge") {
		t.Errorf("at level error, the handler shows:\n%s", s)
	}
}
