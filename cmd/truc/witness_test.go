package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/adapters/witness"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

// TestDevWorldWitnesses runs the demo world with three edges in this
// process: after a letter has flowed, the axis serves a checkpoint that
// covers it, cosigned by each of the three edges with its seal key, and
// each edge keeps the checkpoint it witnessed.
func TestDevWorldWitnesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker, an axis and three edges")
	}
	dir, m, w := startTestDevWorld(t, 3, 2)
	ctx := context.Background()

	sender, recipient := clientFor(t, dir, m, 0), clientFor(t, dir, m, 1)
	pkg := letter(t, m.Edges[0].OrganID, []string{m.Edges[1].OrganID, m.Edges[2].OrganID}, "7", nil, nil)
	sendAndTake(t, ctx, sender, recipient, pkg, m.Edges[1].OrganID)
	size, err := w.axis.store.Log().Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if size == 0 {
		t.Fatal("the letter left no leaf in the axis log")
	}

	// The keys an auditor holds: the log key as the axis publishes it, and
	// the edges' seal certificates.
	logKey, err := readLogKey(filepath.Join(dir, "axis-log.key"))
	if err != nil {
		t.Fatal(err)
	}
	logKeys, err := verifiersFromText(logKey)
	if err != nil {
		t.Fatal(err)
	}
	var edgeKeys []note.Verifier
	var want []string
	for _, e := range w.edges {
		v, err := notesig.NewCertVerifier(bus.EdgeNoteName(e.cfg.ID), e.seal.chain[0])
		if err != nil {
			t.Fatal(err)
		}
		edgeKeys = append(edgeKeys, v)
		want = append(want, bus.EdgeNoteName(e.cfg.ID))
	}
	slices.Sort(want)
	witnesses := note.VerifierList(edgeKeys...)

	client, err := witness.NewClient(m.Axis.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cosigned bus.SignedCheckpoint
	// The edges witness every 10 s (the default): one round after the
	// log went quiet is enough.
	eventually(t, 60*time.Second, "a checkpoint covering the letter cosigned by the three edges", func() (bool, string) {
		msg, err := client.Cosigned(ctx, -1, 3)
		if err != nil {
			return false, err.Error()
		}
		cp, names, err := bus.OpenCosigned(msg, logKeys, witnesses)
		if err != nil {
			return false, err.Error()
		}
		cosigned = cp
		return cp.Size >= size && slices.Equal(names, want), fmt.Sprintf("size %d (want ≥ %d), cosigned by %q", cp.Size, size, names)
	})
	// The same checkpoint by its size.
	msg, err := client.Cosigned(ctx, cosigned.Size, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, names, err := bus.OpenCosigned(msg, logKeys, witnesses); err != nil || !slices.Equal(names, want) {
		t.Errorf("GET cosigned?size=%d: %q, %v", cosigned.Size, names, err)
	}
	for _, e := range w.edges {
		b, err := os.ReadFile(filepath.Join(e.cfg.DataDir, "witness", witness.LastFile))
		if err != nil {
			t.Fatalf("edge %s: %v", e.cfg.ID, err)
		}
		cp, names, err := bus.OpenCosigned(b, logKeys, witnesses)
		if err != nil || cp.Size < size || !slices.Equal(names, []string{bus.EdgeNoteName(e.cfg.ID)}) {
			t.Errorf("edge %s witnessed size %d cosigned by %q (%v)", e.cfg.ID, cp.Size, names, err)
		}
	}
}

func TestEdgeWitnessConfig(t *testing.T) {
	key := signingtest.NewKey(t, signingtest.P256)
	keyFile := filepath.Join(t.TempDir(), "axis-log.key")
	logSigner, err := notesig.NewSigner("truc.vn/axis/000.00.00.G22", signingtest.NewKey(t, signingtest.P256))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(logSigner.Verifier().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	on, off := true, false
	node := func(axisURL string) *edgeNode {
		cfg := &edgeFile{ID: "hanoi", DataDir: t.TempDir(), Axis: edgeAxisConfig{URL: axisURL, LogKeyFile: keyFile}}
		return &edgeNode{cfg: cfg, seal: &seal{key: key}, log: slog.New(slog.DiscardHandler)}
	}
	for _, tc := range []struct {
		name    string
		axisURL string
		sec     witnessSection
		witness bool
		err     string
	}{
		{"default with an axis", "http://127.0.0.1:1", witnessSection{}, true, ""},
		{"standalone edge", "", witnessSection{}, false, ""},
		{"disabled", "http://127.0.0.1:1", witnessSection{Enabled: &off}, false, ""},
		{"enabled without an axis", "", witnessSection{Enabled: &on}, false, "witness.enabled"},
		{"too often", "http://127.0.0.1:1", witnessSection{Every: time.Millisecond}, false, "witness.every"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := node(tc.axisURL)
			w, err := n.newWitness(tc.sec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("%v, want an error about %s", err, tc.err)
				}
				return
			}
			if err != nil || (w != nil) != tc.witness {
				t.Fatalf("witness %v, %v; want witness %v", w != nil, err, tc.witness)
			}
			if w == nil {
				return
			}
			if _, err := os.Stat(filepath.Join(n.cfg.DataDir, "witness")); err != nil {
				t.Errorf("the witness directory: %v", err)
			}
			// Its metrics, as /metrics reports them.
			reg := prometheus.NewRegistry()
			reg.MustRegister(witnessCollector(w))
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, mf := range mfs {
				names = append(names, mf.GetName())
			}
			wantNames := []string{"truc_witness_cosigned_total", "truc_witness_errors_total", "truc_witness_halted", "truc_witness_last_size", "truc_witness_split_views_total", "truc_witness_stale_total"}
			if !slices.Equal(names, wantNames) {
				t.Errorf("metrics %q, want %q", names, wantNames)
			}
		})
	}
}
