package metrics_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"truc.vn/truc/adapters/metrics"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing"
	"truc.vn/truc/signing/signingtest"
)

func TestTrustCollector(t *testing.T) {
	pki := signingtest.NewPKI(t, signingtest.WithLeafKey(signingtest.P256))
	now := pki.Now
	rootCRL, interCRL := pki.CRLs(t)
	// A CA for which no CRL is held, named by its whole subject.
	stranger := pki.Root.Issue(t, &x509.Certificate{
		Subject:   pkix.Name{Country: []string{"VN"}, Organization: []string{"CA không có CRL (TEST)"}},
		NotBefore: now, NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}, signingtest.NewKey(t, signingtest.P256).Public())
	crls := signing.NewCRLStore()
	for _, der := range [][]byte{rootCRL, interCRL} {
		if _, err := crls.Add(der, []*x509.Certificate{pki.Root.Cert, pki.Intermediate.Cert}, now); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	calls := 0
	ders := func() [][]byte {
		mu.Lock()
		calls++
		mu.Unlock()
		return crls.DER()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewTrustCollector([]metrics.Cert{
		{Role: metrics.RoleSeal, Cert: pki.Leaf},
		{Role: metrics.RoleRoot, Cert: pki.Root.Cert},
		{Role: metrics.RoleRoot, Cert: pki.Root.Cert}, // listed twice: one series
		{Role: metrics.RoleIntermediate, Cert: pki.Intermediate.Cert},
		{Role: metrics.RoleIntermediate, Cert: nil},
	}, []*x509.Certificate{pki.Root.Cert, pki.Intermediate.Cert, pki.Root.Cert, stranger}, ders))

	leafName := pki.Leaf.Subject.CommonName
	rootName := pki.Root.Cert.Subject.CommonName
	interName := pki.Intermediate.Cert.Subject.CommonName
	unix := func(t time.Time) float64 { return float64(t.Unix()) }
	want := map[string]float64{
		fmt.Sprintf(`truc_cert_not_after_timestamp_seconds{role="seal",serial=%q,subject=%q}`, pki.Leaf.SerialNumber.Text(16), leafName):                       unix(pki.Leaf.NotAfter),
		fmt.Sprintf(`truc_cert_not_after_timestamp_seconds{role="root",serial=%q,subject=%q}`, pki.Root.Cert.SerialNumber.Text(16), rootName):                  unix(pki.Root.Cert.NotAfter),
		fmt.Sprintf(`truc_cert_not_after_timestamp_seconds{role="intermediate",serial=%q,subject=%q}`, pki.Intermediate.Cert.SerialNumber.Text(16), interName): unix(pki.Intermediate.Cert.NotAfter),
		fmt.Sprintf(`truc_crl_next_update_timestamp_seconds{issuer=%q}`, rootName):                                                                             unix(now.Add(24 * time.Hour)),
		fmt.Sprintf(`truc_crl_this_update_timestamp_seconds{issuer=%q}`, rootName):                                                                             unix(now.Add(-time.Hour)),
		fmt.Sprintf(`truc_crl_next_update_timestamp_seconds{issuer=%q}`, interName):                                                                            unix(now.Add(24 * time.Hour)),
		fmt.Sprintf(`truc_crl_this_update_timestamp_seconds{issuer=%q}`, interName):                                                                            unix(now.Add(-time.Hour)),
		fmt.Sprintf(`truc_crl_next_update_timestamp_seconds{issuer=%q}`, stranger.Subject.String()):                                                            0,
	}
	checkSeries(t, series(t, reg), want)

	// A newer CRL of the intermediate replaces the old one in the store:
	// the next scrape reports it.
	newer := pki.Intermediate.CRL(t, signingtest.CRL{Number: 2, ThisUpdate: now, NextUpdate: now.Add(48 * time.Hour)})
	if _, err := crls.Add(newer, []*x509.Certificate{pki.Intermediate.Cert}, now); err != nil {
		t.Fatal(err)
	}
	want[fmt.Sprintf(`truc_crl_next_update_timestamp_seconds{issuer=%q}`, interName)] = unix(now.Add(48 * time.Hour))
	want[fmt.Sprintf(`truc_crl_this_update_timestamp_seconds{issuer=%q}`, interName)] = unix(now)
	checkSeries(t, series(t, reg), want)
	if calls != 2 {
		t.Errorf("CRLs read %d times for 2 scrapes", calls)
	}
}

func TestTrustCollectorMissingCRL(t *testing.T) {
	pki := signingtest.NewPKI(t, signingtest.WithLeafKey(signingtest.P256))
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewTrustCollector(nil, []*x509.Certificate{pki.Root.Cert},
		func() [][]byte { return [][]byte{[]byte("not a CRL")} }))
	checkSeries(t, series(t, reg), map[string]float64{
		fmt.Sprintf(`truc_crl_next_update_timestamp_seconds{issuer=%q}`, pki.Root.Cert.Subject.CommonName): 0,
	})
	// Without a CRL source, no CRL series at all.
	reg = prometheus.NewRegistry()
	reg.MustRegister(metrics.NewTrustCollector(nil, []*x509.Certificate{pki.Root.Cert}, nil))
	checkSeries(t, series(t, reg), map[string]float64{})
}

func TestTimeSigner(t *testing.T) {
	pki := signingtest.NewPKI(t, signingtest.WithLeafKey(signingtest.P256))
	s, err := signing.NewSigner(pki.LeafKey, []*x509.Certificate{pki.Leaf, pki.Intermediate.Cert})
	if err != nil {
		t.Fatal(err)
	}
	const organ = "000.00.00.G22" // the sender of signingtest.Package
	reg := prometheus.NewRegistry()
	ts := metrics.TimeSigner(reg, signing.NewSealSigner(s, func(o string) bool { return o == organ }))
	pkg := signingtest.Package(signingtest.PackageOptions{Size: 8 << 10})
	out, err := ts.Sign(t.Context(), organ, pkg)
	if err != nil || len(out) <= len(pkg) {
		t.Fatalf("signing through the decorator: %v (%d bytes)", err, len(out))
	}
	if _, err := ts.Sign(t.Context(), "000.00.00.H41", pkg); err == nil {
		t.Fatal("signing for an agency the seal does not serve: no error")
	}
	got := series(t, reg)
	if got[`truc_sign_seconds_count{outcome="ok"}`] != 1 || got[`truc_sign_seconds_count{outcome="failed"}`] != 1 {
		t.Errorf("sign counts: %v", got)
	}
	if got[`truc_sign_seconds_sum{outcome="ok"}`] <= 0 {
		t.Errorf("a signature took no time: %v", got)
	}
}

func TestTimeVerifier(t *testing.T) {
	pki := signingtest.NewPKI(t, signingtest.WithLeafKey(signingtest.P256))
	v, err := signing.NewVerifier(signing.VerifierConfig{Roots: []*x509.Certificate{pki.Root.Cert}, CRLs: signing.NewCRLStore()})
	if err != nil {
		t.Fatal(err)
	}
	bv, err := signing.NewBusVerifier(v, emptyDirectory{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	tv := metrics.TimeVerifier(reg, bv)
	// An unsigned package is refused: the decorator passes the refusal on
	// unchanged.
	_, err = tv.Verify(t.Context(), signingtest.Package(signingtest.PackageOptions{}), pki.Now)
	var re *bus.RejectError
	if !errors.As(err, &re) || re.Reason != string(signing.ReasonNoSignature) {
		t.Fatalf("verifying an unsigned package: %v, want a %s rejection", err, signing.ReasonNoSignature)
	}
	got := series(t, reg)
	if got[`truc_verify_seconds_count{outcome="failed"}`] != 1 || got[`truc_verify_seconds_count{outcome="ok"}`] != 0 {
		t.Errorf("verify counts: %v", got)
	}
	// (A successful verification is counted by cmd/truc's metrics test,
	// which runs the real verifier with a real directory.)
}

// emptyDirectory is a directory with no agency and no edge: enough for a
// verification that fails before any binding is looked up.
type emptyDirectory struct{}

func (emptyDirectory) Agency(string) (bus.Agency, bool) { return bus.Agency{}, false }
func (emptyDirectory) Edge(string) (bus.EdgeInfo, bool) { return bus.EdgeInfo{}, false }
func (emptyDirectory) Version() int64                   { return 1 }
func (emptyDirectory) Agencies() []bus.Agency           { return nil }
func (emptyDirectory) CheckSigner(string, []*x509.Certificate, time.Time) error {
	return errors.New("no binding")
}
