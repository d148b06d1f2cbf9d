package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"truc.vn/truc/adapters/witness"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing/notesig"
)

// witnessSection is the edge config's witness: section. The edge
// witnesses the axis's transparency log (adapters/witness): it checks each
// checkpoint of the axis for consistency with the last one it saw,
// cosigns it with its seal key, keeps its state and any split-view
// evidence in <data_dir>/witness, and posts its cosignatures to the axis.
type witnessSection struct {
	// Enabled turns witnessing on or off; by default it is on when
	// axis.url is set.
	Enabled *bool `yaml:"enabled"`
	// Every is how often the axis's latest checkpoint is witnessed
	// (default 10s, at least 100ms).
	Every time.Duration `yaml:"every"`
}

func (s witnessSection) validate(axisURL string) []error {
	var errs []error
	if s.Every < 0 || (s.Every > 0 && s.Every < 100*time.Millisecond) {
		errs = append(errs, fmt.Errorf("witness.every: at least 100ms (0: the default, 10s), got %s", s.Every))
	}
	if s.Enabled != nil && *s.Enabled && axisURL == "" {
		errs = append(errs, errors.New("witness.enabled: witnessing needs axis.url"))
	}
	return errs
}

// startWitness prepares the edge's witness of the axis log; run is nil
// when the edge does not witness (no axis.url, or witness.enabled false).
func (n *edgeNode) startWitness(ctx context.Context) (run func(context.Context) error, err error) {
	w, err := n.newWitness(n.cfg.Witness)
	if err != nil || w == nil {
		return nil, err
	}
	n.witness = w
	return w.Run, nil
}

// newWitness builds the witness described by sec, or returns nil when the
// edge does not witness.
func (n *edgeNode) newWitness(sec witnessSection) (*witness.Witness, error) {
	if errs := sec.validate(n.cfg.Axis.URL); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if n.cfg.Axis.URL == "" || (sec.Enabled != nil && !*sec.Enabled) {
		return nil, nil
	}
	logKey, err := readLogKey(n.cfg.Axis.LogKeyFile)
	if err != nil {
		return nil, err
	}
	logKeys, err := verifiersFromText(logKey)
	if err != nil {
		return nil, fmt.Errorf("axis.log_key_file: %w", err)
	}
	signer, err := notesig.NewSigner(bus.EdgeNoteName(n.cfg.ID), n.seal.key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	client, err := witness.NewClient(n.cfg.Axis.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("axis.url: %w", err)
	}
	w, err := witness.New(witness.Config{
		Log:     client,
		LogKeys: logKeys,
		Signer:  signer,
		Dir:     filepath.Join(n.cfg.DataDir, "witness"),
		Every:   sec.Every,
		Logger:  n.log,
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// witnessCollector reports a witness's counters at every scrape:
//
//	truc_witness_last_size            gauge    size of the last axis checkpoint witnessed
//	truc_witness_cosigned_total       counter  checkpoints cosigned since the edge started
//	truc_witness_split_views_total    counter  split views detected since the edge started
//	truc_witness_stale_total          counter  checkpoints older than the last witnessed (checked, not cosigned)
//	truc_witness_errors_total         counter  witness rounds that failed (axis unreachable or refusing,
//	                                           a checkpoint not signed by the axis log key, a disk error)
//	truc_witness_halted               gauge    1 while cosigning is stopped after a split view (alert on it:
//	                                           it survives restarts, unlike the counter)
func witnessCollector(w *witness.Witness) prometheus.Collector {
	return witnessMetrics{w}
}

type witnessMetrics struct{ w *witness.Witness }

var witnessDescs = struct {
	lastSize, cosigned, splitViews, stale, errors, halted *prometheus.Desc
}{
	lastSize:   prometheus.NewDesc("truc_witness_last_size", "Size of the last axis log checkpoint this edge witnessed (0 before the first).", nil, nil),
	cosigned:   prometheus.NewDesc("truc_witness_cosigned_total", "Axis log checkpoints this edge cosigned since it started.", nil, nil),
	splitViews: prometheus.NewDesc("truc_witness_split_views_total", "Split views of the axis log detected since the edge started.", nil, nil),
	stale:      prometheus.NewDesc("truc_witness_stale_total", "Axis log checkpoints older than the last one witnessed: checked for consistency, not cosigned.", nil, nil),
	errors:     prometheus.NewDesc("truc_witness_errors_total", "Witness rounds that failed: the axis unreachable or refusing, a checkpoint not signed by the axis log key, a disk error.", nil, nil),
	halted:     prometheus.NewDesc("truc_witness_halted", "1 while this edge has stopped cosigning after a split view, until an operator resumes it.", nil, nil),
}

func (m witnessMetrics) Describe(ch chan<- *prometheus.Desc) {
	d := witnessDescs
	for _, x := range []*prometheus.Desc{d.lastSize, d.cosigned, d.splitViews, d.stale, d.errors, d.halted} {
		ch <- x
	}
}

func (m witnessMetrics) Collect(ch chan<- prometheus.Metric) {
	st := m.w.Stats()
	d := witnessDescs
	halted := 0.0
	if st.Halted {
		halted = 1
	}
	ch <- prometheus.MustNewConstMetric(d.lastSize, prometheus.GaugeValue, float64(st.LastSize))
	ch <- prometheus.MustNewConstMetric(d.cosigned, prometheus.CounterValue, float64(st.Cosigned))
	ch <- prometheus.MustNewConstMetric(d.splitViews, prometheus.CounterValue, float64(st.SplitViews))
	ch <- prometheus.MustNewConstMetric(d.stale, prometheus.CounterValue, float64(st.Stale))
	ch <- prometheus.MustNewConstMetric(d.errors, prometheus.CounterValue, float64(st.Errors))
	ch <- prometheus.MustNewConstMetric(d.halted, prometheus.GaugeValue, halted)
}
