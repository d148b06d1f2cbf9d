package signing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"truc.vn/truc/bus"
	"truc.vn/truc/signing/signingtest"
)

// bindingDirectory is a bus.Directory over a real Bindings: the agencies
// of a map, the signers of a bindings file.
type bindingDirectory struct {
	agencies map[string]bus.Agency
	bindings *Bindings
}

func (d *bindingDirectory) Agency(id string) (bus.Agency, bool) {
	a, ok := d.agencies[id]
	return a, ok
}
func (d *bindingDirectory) Edge(string) (bus.EdgeInfo, bool) { return bus.EdgeInfo{}, false }
func (d *bindingDirectory) Version() int64                   { return 1 }

func (d *bindingDirectory) Agencies() []bus.Agency {
	out := slices.Collect(maps.Values(d.agencies))
	slices.SortFunc(out, func(a, b bus.Agency) int { return strings.Compare(a.OrganID, b.OrganID) })
	return out
}

func (d *bindingDirectory) CheckSigner(organID string, chain []*x509.Certificate, at time.Time) error {
	if err := d.bindings.CheckChain(organID, chain, at); err != nil {
		var ve *VerifyError
		errors.As(err, &ve)
		return &bus.RejectError{Reason: bus.RejectSignerNotBound, Detail: ve.Detail, Err: err}
	}
	return nil
}

// newBindingDirectory returns a directory where the sample package's
// sender and recipient are active agencies, and the sender is bound to the
// certificates given.
func newBindingDirectory(t *testing.T, signers ...*x509.Certificate) *bindingDirectory {
	t.Helper()
	var y strings.Builder
	if len(signers) == 0 {
		y.WriteString("version: 1\nbindings: []\n")
	} else {
		y.WriteString("version: 1\nbindings:\n  - organ_id: 000.00.00.G22\n    certificates:\n")
		for _, c := range signers {
			fmt.Fprintf(&y, "      - %s\n", Fingerprint(c))
		}
	}
	b, err := ParseBindings([]byte(y.String()))
	if err != nil {
		t.Fatalf("ParseBindings: %v", err)
	}
	return &bindingDirectory{bindings: b, agencies: map[string]bus.Agency{
		"000.00.00.G22": {OrganID: "000.00.00.G22", Name: "Văn phòng Chính phủ", Edge: "vpcp", Active: true},
		"000.00.00.H41": {OrganID: "000.00.00.H41", Name: "UBND tỉnh Nghệ An", Edge: "nghean", Active: true},
	}}
}

func mustBusVerifier(t *testing.T, v *Verifier, dir bus.Directory) *BusVerifier {
	t.Helper()
	bv, err := NewBusVerifier(v, dir)
	if err != nil {
		t.Fatalf("NewBusVerifier: %v", err)
	}
	return bv
}

func TestBusVerifyAccepts(t *testing.T) {
	f := newFixture(t)
	bv := mustBusVerifier(t, f.verifier, newBindingDirectory(t, f.pki.Leaf))
	signed := mustSign(t, f.signer, smallPackage())
	got, err := bv.Verify(context.Background(), signed, f.at)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Package.Sender() != "000.00.00.G22" || fmt.Sprint(got.Package.Recipients()) != "[000.00.00.H41]" {
		t.Errorf("package sender %s, recipients %v", got.Package.Sender(), got.Package.Recipients())
	}
	if len(got.Chain) != 3 || !got.Chain[0].Equal(f.pki.Leaf) || !got.Chain[2].Equal(f.pki.Root.Cert) {
		t.Errorf("chain of %d certificates, signer first expected", len(got.Chain))
	}

	ev := got.Evidence
	if !ev.VerifiedAt.Equal(f.at) {
		t.Errorf("VerifiedAt = %v, want %v", ev.VerifiedAt, f.at)
	}
	wantChain := [][32]byte{sha256.Sum256(f.pki.Leaf.Raw), sha256.Sum256(f.pki.Intermediate.Cert.Raw), sha256.Sum256(f.pki.Root.Cert.Raw)}
	if fmt.Sprint(ev.Chain) != fmt.Sprint(wantChain) {
		t.Errorf("evidence chain = %x, want %x", ev.Chain, wantChain)
	}
	wantCRLs := []bus.CRLEvidence{{Issuer: wantChain[1], Number: "1"}, {Issuer: wantChain[2], Number: "1"}}
	if fmt.Sprint(ev.CRLs) != fmt.Sprint(wantCRLs) {
		t.Errorf("evidence CRLs = %+v, want %+v", ev.CRLs, wantCRLs)
	}
	// The evidence is what an event records: it must encode.
	e := bus.Event{
		Kind: bus.EventSubmissionAccepted, Time: f.at, MessageID: "m-1", PackageSHA256: sha256.Sum256(signed),
		Sender: got.Package.Sender(), Recipients: got.Package.Recipients(), Evidence: ev,
	}
	if _, err := e.Encode(); err != nil {
		t.Errorf("an event with the evidence does not encode: %v", err)
	}
}

func TestBusVerifyRejects(t *testing.T) {
	f := newFixture(t)
	signed := mustSign(t, f.signer, smallPackage())
	bound := newBindingDirectory(t, f.pki.Leaf)
	_, other := f.pki.IssueLeaf(t, signingtest.P256)

	inactive := newBindingDirectory(t, f.pki.Leaf)
	a := inactive.agencies["000.00.00.G22"]
	a.Active = false
	inactive.agencies["000.00.00.G22"] = a
	unknown := newBindingDirectory(t, f.pki.Leaf)
	delete(unknown.agencies, "000.00.00.G22")

	signEdited := func(edit func(string) string) []byte {
		return mustSign(t, f.signer, []byte(edit(string(smallPackage()))))
	}
	noTo := signEdited(func(s string) string {
		start, end := strings.Index(s, "<edXML:To>"), strings.Index(s, "</edXML:To>")+len("</edXML:To>")
		return s[:start] + s[end:]
	})
	mixed := signEdited(func(s string) string {
		return strings.Replace(s, "<edXML:Subject>V/v", "<edXML:Subject><edXML:b>x</edXML:b>V/v", 1)
	})
	tampered := bytes.Replace(signed, []byte("triển khai"), []byte("hủy bỏ"), 1)
	if bytes.Equal(tampered, signed) {
		t.Fatal("the tampering changed nothing")
	}
	revokedCRLs := NewCRLStore()
	rootCRL, interCRL := f.pki.CRLs(t, f.pki.Leaf)
	for _, der := range [][]byte{rootCRL, interCRL} {
		if _, err := revokedCRLs.Add(der, []*x509.Certificate{f.pki.Root.Cert, f.pki.Intermediate.Cert}, f.at); err != nil {
			t.Fatal(err)
		}
	}
	revoking, err := NewVerifier(VerifierConfig{Roots: []*x509.Certificate{f.pki.Root.Cert}, CRLs: revokedCRLs})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		verifier  *Verifier
		dir       bus.Directory
		pkg       []byte
		reason    string
		field     string
		detailHas string
	}{
		{"tampered", f.verifier, bound, tampered, string(ReasonDigestMismatch), "", "changed after signing"},
		{"unsigned", f.verifier, bound, smallPackage(), string(ReasonNoSignature), "", ""},
		{"revoked signer", revoking, bound, signed, string(ReasonRevoked), "", ""},
		{"signer bound to nobody", f.verifier, newBindingDirectory(t), signed, bus.RejectSignerNotBound, senderField, "no binding for OrganId"},
		{"signer not bound to the sender", f.verifier, newBindingDirectory(t, other), signed, bus.RejectSignerNotBound, senderField, "is not bound to OrganId 000.00.00.G22"},
		{"unknown sender", f.verifier, unknown, signed, bus.RejectUnknownSender, senderField, "not in the directory"},
		{"inactive sender", f.verifier, inactive, signed, bus.RejectUnknownSender, senderField, "inactive"},
		{"invalid edXML", f.verifier, bound, noTo, bus.RejectInvalid, "MessageHeader/To", "required: "},
		{"unreadable edXML", f.verifier, bound, mixed, bus.RejectInvalid, "MessageHeader/Subject", "mixed-content: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bv := mustBusVerifier(t, tt.verifier, tt.dir)
			got, err := bv.Verify(context.Background(), tt.pkg, f.at)
			if err == nil {
				t.Fatalf("Verify accepted the package (sender %s)", got.Package.Sender())
			}
			var re *bus.RejectError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T) is not a *bus.RejectError", err, err)
			}
			if re.Reason != tt.reason || re.Field != tt.field || !strings.Contains(re.Detail, tt.detailHas) {
				t.Errorf("got reason %q field %q detail %q; want reason %q field %q detail containing %q", re.Reason, re.Field, re.Detail, tt.reason, tt.field, tt.detailHas)
			}
			// The rejection must be recordable as is.
			e := bus.Event{Kind: bus.EventSubmissionRejected, Time: f.at, MessageID: "m-1", PackageSHA256: sha256.Sum256(tt.pkg), Reason: re.Reason, Detail: re.Detail}
			if _, err := e.Encode(); err != nil {
				t.Errorf("the rejection does not fit an event: %v", err)
			}
		})
	}
}

func TestBusVerifyCancelled(t *testing.T) {
	f := newFixture(t)
	bv := mustBusVerifier(t, f.verifier, newBindingDirectory(t, f.pki.Leaf))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := bv.Verify(ctx, mustSign(t, f.signer, smallPackage()), f.at)
	var re *bus.RejectError
	if !errors.As(err, &re) || re.Reason != bus.RejectVerificationError || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want a verification-error wrapping context.Canceled", err)
	}
}

func TestNewBusVerifierRefusesNil(t *testing.T) {
	f := newFixture(t)
	if _, err := NewBusVerifier(nil, newBindingDirectory(t)); err == nil {
		t.Error("no error without a Verifier")
	}
	if _, err := NewBusVerifier(f.verifier, nil); err == nil {
		t.Error("no error without a Directory")
	}
}

func TestBusEvidence(t *testing.T) {
	leaf := strings.Repeat("ab", 32)
	issuer := strings.Repeat("cd", 32)
	at := signingtest.Epoch
	tests := []struct {
		name    string
		in      Evidence
		wantErr string
		crls    int
	}{
		{"converted", Evidence{At: at, ChainSHA256: []string{leaf, issuer}, CRLs: []CRLInfo{{IssuerSHA256: issuer, Number: "42"}}}, "", 1},
		{"CRL without number left out", Evidence{At: at, ChainSHA256: []string{leaf}, CRLs: []CRLInfo{{IssuerSHA256: issuer}}}, "", 0},
		{"bad chain hex", Evidence{At: at, ChainSHA256: []string{"zz" + leaf[2:]}}, "chain certificate 0", 0},
		{"short chain hash", Evidence{At: at, ChainSHA256: []string{leaf[:10]}}, "chain certificate 0", 0},
		{"bad CRL issuer", Evidence{At: at, ChainSHA256: []string{leaf}, CRLs: []CRLInfo{{IssuerSHA256: "x", Number: "1"}}}, "CRL 0 issuer", 0},
		{"chain too long", Evidence{At: at, ChainSHA256: slicesRepeat(leaf, bus.MaxChainLen+1)}, "exceeds", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := busEvidence(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("busEvidence: %v", err)
			}
			if len(ev.CRLs) != tt.crls || !ev.VerifiedAt.Equal(at) || fmt.Sprintf("%x", ev.Chain[0]) != leaf {
				t.Errorf("got %+v", ev)
			}
			if tt.crls > 0 && (fmt.Sprintf("%x", ev.CRLs[0].Issuer) != issuer || ev.CRLs[0].Number != "42") {
				t.Errorf("CRL evidence %+v", ev.CRLs[0])
			}
		})
	}
}

func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestDetailFitsAnEvent(t *testing.T) {
	tests := []struct{ name, in string }{
		{"control characters", "subject \"CN=x\x00\ny\x7f\""},
		{"invalid UTF-8", "bad \xff\xfe bytes"},
		{"long Vietnamese", strings.Repeat("chứng thư số bị thu hồi ", 200)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := detail(tt.in)
			if len(d) > bus.MaxDetailLen || !utf8.ValidString(d) {
				t.Fatalf("detail of %d bytes, valid UTF-8 %v", len(d), utf8.ValidString(d))
			}
			e := bus.Event{Kind: bus.EventSubmissionRejected, Time: signingtest.Epoch, MessageID: "m", PackageSHA256: [32]byte{1}, Reason: "revoked", Detail: d}
			if _, err := e.Encode(); err != nil {
				t.Errorf("detail %q does not fit an event: %v", d, err)
			}
		})
	}
	if got := detail("plain"); got != "plain" {
		t.Errorf("detail changed a plain string: %q", got)
	}
}
