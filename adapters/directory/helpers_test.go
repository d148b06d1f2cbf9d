package directory

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"truc.vn/truc/bus"
	"truc.vn/truc/signing"
	"truc.vn/truc/signing/signingtest"
)

// memLog is an in-memory ChangeLog with the contract's checks, and a way
// to make the next Append fail.
type memLog struct {
	mu      sync.Mutex
	recs    []logRecord
	failErr error
}

type logRecord = LogEntry

func (l *memLog) Append(ctx context.Context, version int64, change []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failErr != nil {
		return l.failErr
	}
	if n := len(l.recs); n > 0 && version <= l.recs[n-1].Version {
		return fmt.Errorf("memLog: version %d after version %d", version, l.recs[n-1].Version)
	}
	l.recs = append(l.recs, logRecord{Version: version, Change: bytes.Clone(change)})
	return nil
}

func (l *memLog) Since(ctx context.Context, version int64, limit int) ([]logRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logRecord
	for _, r := range l.recs {
		if r.Version > version && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (l *memLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recs)
}

var _ ChangeLog = (*memLog)(nil)

// world is a test PKI with a seal certificate per edge.
type world struct {
	pki   *signingtest.PKI
	seals map[string]*x509.Certificate // edge ID → seal
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{pki: signingtest.NewPKI(t, signingtest.WithLeafKey(signingtest.P256)), seals: map[string]*x509.Certificate{}}
	for _, id := range []string{"vpcp", "btc", "tayninh", "hanoi"} {
		_, w.seals[id] = w.pki.IssueLeaf(t, signingtest.P256)
	}
	return w
}

// pemBlock returns the PEM of certs indented for a YAML block scalar.
func pemBlock(certs ...*x509.Certificate) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(string(signingtest.CertPEM(certs...))), "\n") {
		b.WriteString("      " + l + "\n")
	}
	return b.String()
}

// edgesYAML is the edges section for the given edge IDs.
func (w *world) edgesYAML(ids ...string) string {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "  - id: %s\n    certificates: |\n%s", id, pemBlock(w.seals[id]))
	}
	return b.String()
}

// sampleYAML is a valid directory file: three edges, six agencies, the
// PKI's leaf bound to 000.00.00.G22.
func (w *world) sampleYAML() string {
	return `version: 1
agencies:
  - organ_id: 000.00.00.G22
    name: Văn phòng Chính phủ
    edge: vpcp
  - organ_id: 000.00.01.G22
    name: Cục Kiểm soát thủ tục hành chính
    parent: 000.00.00.G22
    edge: vpcp
  - organ_id: 000.00.00.G12
    name: Bộ Tài chính
    edge: btc
  - organ_id: 000.00.13.G12
    name: Tổng cục Hải quan
    parent: 000.00.00.G12
    edge: btc
    active: false
  - organ_id: 000.00.00.H53
    name: UBND tỉnh Tây Ninh
    edge: tayninh
  - organ_id: 000.00.00.H41
    name: UBND tỉnh Nghệ An
    edge: tayninh
edges:
` + w.edgesYAML("vpcp", "btc", "tayninh") + `bindings:
  - organ_id: 000.00.00.G22
    certificates:
      - ` + signing.Fingerprint(w.pki.Leaf) + `
  - organ_id: 000.00.00.H53
    certificates: [` + signing.Fingerprint(w.seals["tayninh"]) + `]
`
}

func (w *world) sampleFile(t testing.TB) *File {
	t.Helper()
	f, err := ParseFile([]byte(w.sampleYAML()), FileOptions{})
	if err != nil {
		t.Fatalf("ParseFile(sample): %v", err)
	}
	return f
}

// openSeeded returns a directory at version 1 from the sample file, backed
// by a fresh memLog.
func (w *world) openSeeded(t testing.TB, cfg Config) (*Directory, *memLog) {
	t.Helper()
	log := &memLog{}
	d, res, err := Open(context.Background(), cfg, log, w.sampleFile(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !res.Seeded || d.Version() != 1 {
		t.Fatalf("Open of an empty log: %+v, version %d", res, d.Version())
	}
	return d, log
}

// wantField checks that err is an *Error whose Field is field and whose
// message contains msg.
func wantField(t testing.TB, err error, field, msg string) *Error {
	t.Helper()
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("got %v (%T), want *Error on %s", err, err, field)
	}
	if de.Field != field || !strings.Contains(de.Msg, msg) {
		t.Fatalf("got field %q msg %q; want field %q, msg containing %q", de.Field, de.Msg, field, msg)
	}
	return de
}

// sameDirectory fails t when two snapshots differ.
func sameDirectory(t testing.TB, got, want Snapshot) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("directories differ:\n got %+v\nwant %+v", summary(got), summary(want))
	}
}

func summary(s Snapshot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "v%d agencies:", s.Version)
	for _, a := range s.Agencies {
		fmt.Fprintf(&b, " %s(%s,%s,%v)", a.OrganID, a.Edge, a.Parent, a.Active)
	}
	b.WriteString(" edges:")
	for _, e := range s.Edges {
		fmt.Fprintf(&b, " %s(%s,%d)", e.ID, e.InboxTopic, len(e.Certificates))
	}
	b.WriteString(" bindings:")
	for _, bd := range s.Bindings {
		fmt.Fprintf(&b, " %s%v", bd.OrganID, bd.Certificates)
	}
	return b.String()
}

func agency(id, name, edge, parent string) *bus.Agency {
	return &bus.Agency{OrganID: id, Name: name, Edge: edge, Parent: parent, Active: true}
}

func edgeOf(w *world, id string) *Edge {
	return &Edge{ID: id, Certificates: [][]byte{w.seals[id].Raw}}
}
