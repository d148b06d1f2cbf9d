package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"truc.vn/truc/bus"
)

// cryptoBuckets cover an XML signature made or checked in software (a
// millisecond or two for a small letter, more for a large one or when a
// PKCS#11 token signs).
var cryptoBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// Outcomes, the values of the outcome label of truc_sign_seconds and
// truc_verify_seconds. Stable.
const (
	OutcomeOK     = "ok"
	OutcomeFailed = "failed"
)

// TimeSigner returns s timed: each Sign is observed in truc_sign_seconds,
// which it registers with reg (nil: unregistered). It panics as NewAxis
// does when reg holds that metric already. The result is safe for
// concurrent use when s is.
func TimeSigner(reg prometheus.Registerer, s bus.PackageSigner) bus.PackageSigner {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "truc_sign_seconds",
		Help:    "Time to sign one edXML package with the seal key, by outcome (ok, failed).",
		Buckets: cryptoBuckets,
	}, []string{"outcome"})
	h.WithLabelValues(OutcomeOK)
	h.WithLabelValues(OutcomeFailed)
	register(reg, h)
	return timedSigner{s, h}
}

// TimeVerifier returns v timed: each Verify is observed in
// truc_verify_seconds, which it registers with reg, as TimeSigner does. A
// package refused counts as failed, whatever the reason (the axis and edge
// counters say why).
func TimeVerifier(reg prometheus.Registerer, v bus.Verifier) bus.Verifier {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "truc_verify_seconds",
		Help:    "Time to verify one signed edXML package (signature, chain, revocation, signer binding), by outcome (ok, failed).",
		Buckets: cryptoBuckets,
	}, []string{"outcome"})
	h.WithLabelValues(OutcomeOK)
	h.WithLabelValues(OutcomeFailed)
	register(reg, h)
	return timedVerifier{v, h}
}

type timedSigner struct {
	s bus.PackageSigner
	h *prometheus.HistogramVec
}

func (t timedSigner) Sign(ctx context.Context, organID string, pkg []byte) ([]byte, error) {
	start := time.Now()
	out, err := t.s.Sign(ctx, organID, pkg)
	t.h.WithLabelValues(outcome(err)).Observe(time.Since(start).Seconds())
	return out, err
}

type timedVerifier struct {
	v bus.Verifier
	h *prometheus.HistogramVec
}

func (t timedVerifier) Verify(ctx context.Context, pkg []byte, at time.Time) (*bus.Verified, error) {
	start := time.Now()
	out, err := t.v.Verify(ctx, pkg, at)
	t.h.WithLabelValues(outcome(err)).Observe(time.Since(start).Seconds())
	return out, err
}

func outcome(err error) string {
	if err != nil {
		return OutcomeFailed
	}
	return OutcomeOK
}
