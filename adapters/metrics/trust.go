package metrics

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Certificate roles, the values of the role label of
// truc_cert_not_after_timestamp_seconds. Stable.
const (
	RoleSeal         = "seal"         // the node's own seal certificate
	RoleRoot         = "root"         // a trust anchor
	RoleIntermediate = "intermediate" // an intermediate CA of the trust configuration
)

// Cert is a certificate whose expiry NewTrustCollector reports.
type Cert struct {
	Role string // RoleSeal, RoleRoot or RoleIntermediate
	Cert *x509.Certificate
}

// NewTrustCollector returns a collector that reports, at every scrape:
//
//   - truc_cert_not_after_timestamp_seconds{role,subject,serial}: the
//     notAfter of each of certs (one series per distinct certificate);
//   - truc_crl_next_update_timestamp_seconds{issuer} and
//     truc_crl_this_update_timestamp_seconds{issuer}: for each CA among
//     cas, the dates of the CRL held for it (matched by issuer name), read
//     from crls (signing.CRLStore.DER). A CA without a CRL reports a next
//     update of 0, so that an alert on a next update in the past fires for
//     it too; its this-update series is absent.
//
// crls is called at every scrape; each CRL is parsed once (a cache keyed by
// its SHA-256 holds the dates). Its signature is not checked here: the
// CRL store checked it when it took the CRL. crls may be nil (no CRL
// series).
func NewTrustCollector(certs []Cert, cas []*x509.Certificate, crls func() [][]byte) prometheus.Collector {
	c := &trustCollector{
		crls:   crls,
		parsed: map[[32]byte]crlDates{},
		notAfter: prometheus.NewDesc("truc_cert_not_after_timestamp_seconds",
			"Unix time after which the certificate is no longer valid, by role (seal, root, intermediate), subject and serial number.",
			[]string{"role", "subject", "serial"}, nil),
		nextUpdate: prometheus.NewDesc("truc_crl_next_update_timestamp_seconds",
			"Unix time of the nextUpdate of the CRL held for the CA; 0 when the node holds no CRL for it.",
			[]string{"issuer"}, nil),
		thisUpdate: prometheus.NewDesc("truc_crl_this_update_timestamp_seconds",
			"Unix time of the thisUpdate of the CRL held for the CA.",
			[]string{"issuer"}, nil),
	}
	seen := map[string]bool{}
	for _, ct := range certs {
		if ct.Cert == nil {
			continue
		}
		labels := [3]string{labelText(ct.Role), certName(ct.Cert), ct.Cert.SerialNumber.Text(16)}
		if k := strings.Join(labels[:], "\x00"); !seen[k] {
			seen[k] = true
			c.certs = append(c.certs, watchedCert{labels, ct.Cert.NotAfter})
		}
	}
	if crls != nil {
		byName := map[string]bool{}
		for _, ca := range cas {
			if ca == nil || byName[string(ca.RawSubject)] {
				continue
			}
			byName[string(ca.RawSubject)] = true
			c.cas = append(c.cas, watchedCA{name: certName(ca), rawSubject: ca.RawSubject})
		}
	}
	return c
}

type watchedCert struct {
	labels   [3]string
	notAfter time.Time
}

type watchedCA struct {
	name       string
	rawSubject []byte
}

type crlDates struct {
	rawIssuer              []byte
	thisUpdate, nextUpdate time.Time
}

type trustCollector struct {
	certs                            []watchedCert
	cas                              []watchedCA
	crls                             func() [][]byte
	notAfter, nextUpdate, thisUpdate *prometheus.Desc

	mu     sync.Mutex
	parsed map[[32]byte]crlDates // the CRLs of the last scrape
}

func (c *trustCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.notAfter
	ch <- c.nextUpdate
	ch <- c.thisUpdate
}

func (c *trustCollector) Collect(ch chan<- prometheus.Metric) {
	for _, wc := range c.certs {
		ch <- prometheus.MustNewConstMetric(c.notAfter, prometheus.GaugeValue, unixSeconds(wc.notAfter), wc.labels[:]...)
	}
	if c.crls == nil {
		return
	}
	held := c.readCRLs()
	for _, ca := range c.cas {
		// A CA's CRL is the one with its name as issuer; should several
		// be held (two CA keys under one name), the stalest counts.
		var dates *crlDates
		for i := range held {
			d := &held[i]
			if bytes.Equal(d.rawIssuer, ca.rawSubject) && (dates == nil || d.nextUpdate.Before(dates.nextUpdate)) {
				dates = d
			}
		}
		if dates == nil {
			ch <- prometheus.MustNewConstMetric(c.nextUpdate, prometheus.GaugeValue, 0, ca.name)
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.nextUpdate, prometheus.GaugeValue, unixSeconds(dates.nextUpdate), ca.name)
		ch <- prometheus.MustNewConstMetric(c.thisUpdate, prometheus.GaugeValue, unixSeconds(dates.thisUpdate), ca.name)
	}
}

// readCRLs returns the dates of the CRLs crls holds now, parsing only
// those not seen at the previous scrape. A CRL that does not parse (the
// store would not have taken it) is skipped.
func (c *trustCollector) readCRLs() []crlDates {
	ders := c.crls()
	c.mu.Lock()
	defer c.mu.Unlock()
	next := make(map[[32]byte]crlDates, len(ders))
	out := make([]crlDates, 0, len(ders))
	for _, der := range ders {
		sum := sha256.Sum256(der)
		d, ok := c.parsed[sum]
		if !ok {
			crl, err := x509.ParseRevocationList(der)
			if err != nil {
				continue
			}
			d = crlDates{rawIssuer: crl.RawIssuer, thisUpdate: crl.ThisUpdate, nextUpdate: crl.NextUpdate}
		}
		next[sum] = d
		out = append(out, d)
	}
	c.parsed = next
	return out
}

// certName is the label naming a certificate: its subject's common name,
// else its whole subject, as valid UTF-8 of at most 128 bytes.
func certName(c *x509.Certificate) string {
	name := c.Subject.CommonName
	if name == "" {
		name = c.Subject.String()
	}
	return labelText(name)
}

// labelText makes s a label value: valid UTF-8, no control characters, at
// most 128 bytes.
func labelText(s string) string {
	if s = sanitizeText(s, 128); s == "" {
		return "(empty)"
	}
	return s
}

// unixSeconds is t in Unix seconds; unlike UnixNano it holds for the
// year 9999 some certificates use as "no expiry".
func unixSeconds(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond())/1e9 }
