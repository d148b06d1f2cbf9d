package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"truc.vn/truc/edoc"
	"truc.vn/truc/signing"
)

const verifySynopsis = "verify --roots FILE [--intermediates FILE] [--crl FILE]... [--bindings FILE] [--at TIME] [--json] FILE..."

const verifyExplain = `
Verify signed edXML packages: the XML-DSig signature, the certificate chain
to the given roots, the key usage and, unless --no-revocation, the
revocation of every certificate below the root against the CRLs given with
--crl (DER or PEM; a CA's CRL is checked against its certificate, so give
the issuing CA with --intermediates when packages do not carry it). With
--bindings, the signer must also be bound to the sender OrganId read from
the verified package (From/OrganId); see configs/bindings.example.yaml.

Each package is checked as of --at (RFC 3339, default now). For a valid
package it prints the signer, the chain, the sender and its binding, the
algorithms and the CRLs used; for an invalid one the stable reason code
(no-signature, digest-mismatch, revoked, signer-not-bound, ...) and why.
--json prints one JSON object per package, one per line.

A CRL that cannot be used (badly signed, not yet valid at --at, issuer not
among the given certificates) is reported as a warning and left out:
revocation checking then fails closed with crl-unavailable.

Exit status: 0 every package is valid; 1 at least one is invalid or
unreadable; 2 wrong usage, or unreadable roots, CRL or bindings files.

Examples:
  truc verify --roots demo-pki/root-ca.pem --intermediates demo-pki/issuing-ca.pem \
      --crl demo-pki/issuing-ca.crl --crl demo-pki/root-ca.crl letter.signed.edxml
  truc verify --roots rootcag2.crt --no-revocation --bindings bindings.yaml --json *.edxml
`

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// verifyReport is what verify prints about one package; it is also the
// --json line format (fields are stable; new ones may be added).
type verifyReport struct {
	File     string          `json:"file"`
	Valid    bool            `json:"valid"`
	Reason   signing.Reason  `json:"reason,omitempty"`
	Detail   string          `json:"detail,omitempty"`
	SHA256   string          `json:"sha256,omitempty"` // of the package bytes: its content identity
	Signer   *certReport     `json:"signer,omitempty"`
	Chain    []certReport    `json:"chain,omitempty"` // signer .. root
	Sender   *senderReport   `json:"sender,omitempty"`
	Evidence *evidenceReport `json:"evidence,omitempty"`
}

type certReport struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	SHA256    string    `json:"sha256"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

type senderReport struct {
	OrganID string `json:"organ_id"`
	Checked bool   `json:"binding_checked"` // false without --bindings
	Bound   bool   `json:"bound"`
}

type evidenceReport struct {
	At                 time.Time         `json:"at"`
	SignatureAlgorithm string            `json:"signature_algorithm"`
	DigestAlgorithm    string            `json:"digest_algorithm"`
	CRLs               []signing.CRLInfo `json:"crls"`
}

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", verifySynopsis, verifyExplain, stderr)
	var roots, intermediates, crls listFlag
	fs.Var(&roots, "roots", "trust anchor certificates `file` (PEM or DER); repeatable, at least one")
	fs.Var(&intermediates, "intermediates", "intermediate CA certificates `file`; repeatable")
	fs.Var(&crls, "crl", "CRL `file` (DER or PEM); repeatable")
	noRevocation := fs.Bool("no-revocation", false, "skip revocation checks (offline inspection only)")
	crlGrace := fs.Duration("crl-grace", 0, "how long past its next update a CRL still counts")
	allowSHA1 := fs.Bool("allow-sha1", false, "accept rsa-sha1 / sha1 signatures of legacy senders")
	bindingsFile := fs.String("bindings", "", "sender bindings `file` (YAML): check the signer may sign for the sender OrganId")
	atFlag := fs.String("at", "", "verification `time`, RFC 3339 (default now)")
	asJSON := fs.Bool("json", false, "print one JSON object per package, one per line")
	files, err := parseInterleaved(fs, args, stdout)
	if err != nil {
		return err
	}
	switch {
	case len(roots) == 0:
		return usageError("verify: --roots is required: the verifier trusts no certificate by default (see truc verify -h)")
	case len(files) == 0:
		return usageError("verify: no package to verify (see truc verify -h)")
	case *noRevocation && len(crls) > 0:
		return usageError("verify: --crl and --no-revocation contradict each other")
	case *crlGrace < 0:
		return usageError("verify: --crl-grace must not be negative")
	}
	at := time.Now()
	if *atFlag != "" {
		if at, err = time.Parse(time.RFC3339, *atFlag); err != nil {
			return usageError(fmt.Sprintf("verify: --at %q: want an RFC 3339 time such as 2026-03-01T08:00:00+07:00", *atFlag))
		}
	}

	var rootCerts, interCerts []*x509.Certificate
	for _, p := range roots {
		c, err := readCertificates(p)
		if err != nil {
			return usageError("verify: --roots: " + err.Error())
		}
		rootCerts = append(rootCerts, c...)
	}
	for _, p := range intermediates {
		c, err := readCertificates(p)
		if err != nil {
			return usageError("verify: --intermediates: " + err.Error())
		}
		interCerts = append(interCerts, c...)
	}
	var bindings *signing.Bindings
	if *bindingsFile != "" {
		b, err := readConfigFile(*bindingsFile)
		if err != nil {
			return usageError("verify: --bindings: " + err.Error())
		}
		if bindings, err = signing.ParseBindings(b); err != nil {
			return usageError(fmt.Sprintf("verify: --bindings %s: %v", *bindingsFile, err))
		}
	}
	var store *signing.CRLStore
	if !*noRevocation {
		store = signing.NewCRLStore()
		issuers := append(append([]*x509.Certificate(nil), rootCerts...), interCerts...)
		for _, p := range crls {
			if _, err := os.Stat(p); err != nil {
				return usageError("verify: --crl: " + err.Error())
			}
			if _, err := store.LoadFile(p, issuers, at); err != nil {
				fmt.Fprintf(stderr, "truc verify: warning: CRL %s not used: %v\n", p, err)
			}
		}
	}
	v, err := signing.NewVerifier(signing.VerifierConfig{
		Roots:         rootCerts,
		Intermediates: interCerts,
		CRLs:          store,
		Policy:        signing.Policy{AllowSHA1: *allowSHA1, CRLGrace: *crlGrace, SkipRevocation: *noRevocation},
	})
	if err != nil {
		return usageError("verify: " + err.Error())
	}

	invalid := 0
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			fmt.Fprintf(stderr, "truc verify: stopped: %v (%d of %d done)\n", err, i, len(files))
			return failed(exitFailure)
		}
		if len(files) > 1 {
			fmt.Fprintf(stderr, "[%d/%d] %s\n", i+1, len(files), f)
		}
		rep := verifyOne(v, bindings, f, at)
		if !rep.Valid {
			invalid++
		}
		if *asJSON {
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else {
			printReport(stdout, rep, *bindingsFile)
		}
	}
	if invalid > 0 {
		if len(files) > 1 {
			fmt.Fprintf(stderr, "truc verify: %d of %d packages invalid\n", invalid, len(files))
		}
		return failed(exitFailure)
	}
	return nil
}

// reasonUnreadable is the reason verify reports for a package file it
// cannot read; the other reasons are signing's.
const reasonUnreadable signing.Reason = "unreadable"

// verifyOne verifies one file and describes the outcome.
func verifyOne(v *signing.Verifier, bindings *signing.Bindings, path string, at time.Time) verifyReport {
	rep := verifyReport{File: path}
	data, err := readPackageFile(path)
	if err != nil {
		rep.Reason, rep.Detail = reasonUnreadable, err.Error()
		return rep
	}
	sum := sha256.Sum256(data)
	rep.SHA256 = hex.EncodeToString(sum[:])
	res, err := v.Verify(data, at)
	if err != nil {
		var ve *signing.VerifyError
		if errors.As(err, &ve) {
			rep.Reason, rep.Detail = ve.Reason, ve.Detail
		} else {
			rep.Reason, rep.Detail = signing.ReasonMalformed, err.Error()
		}
		return rep
	}
	rep.Signer = describeCert(res.Signer)
	for _, c := range res.Chain {
		rep.Chain = append(rep.Chain, *describeCert(c))
	}
	rep.Evidence = &evidenceReport{
		At:                 res.Evidence.At,
		SignatureAlgorithm: res.Evidence.SignatureAlgorithm,
		DigestAlgorithm:    res.Evidence.DigestAlgorithm,
		CRLs:               res.Evidence.CRLs,
	}
	rep.Valid = true

	// The sender is read from the verified element only.
	pkg, err := edoc.FromElement(res.Element)
	if err != nil {
		if bindings != nil {
			rep.Valid = false
			rep.Reason, rep.Detail = signing.ReasonMalformed, "reading the sender of the signed package: "+err.Error()
		}
		return rep
	}
	rep.Sender = &senderReport{OrganID: pkg.Sender()}
	if bindings == nil {
		return rep
	}
	rep.Sender.Checked = true
	if err := bindings.CheckChain(pkg.Sender(), res.Chain, at); err != nil {
		rep.Valid = false
		var ve *signing.VerifyError
		if errors.As(err, &ve) {
			rep.Reason, rep.Detail = ve.Reason, ve.Detail
		} else {
			rep.Reason, rep.Detail = signing.ReasonSignerNotBound, err.Error()
		}
		return rep
	}
	rep.Sender.Bound = true
	return rep
}

func describeCert(c *x509.Certificate) *certReport {
	return &certReport{
		Subject:   c.Subject.String(),
		Issuer:    c.Issuer.String(),
		Serial:    fmt.Sprintf("%x", c.SerialNumber),
		SHA256:    signing.Fingerprint(c),
		NotBefore: c.NotBefore.UTC(),
		NotAfter:  c.NotAfter.UTC(),
	}
}

func printReport(w io.Writer, r verifyReport, bindingsFile string) {
	if !r.Valid {
		fmt.Fprintf(w, "%s: INVALID (%s): %s\n", r.File, r.Reason, r.Detail)
		if r.Signer != nil { // valid signature, failed binding
			fmt.Fprintf(w, "  signer:    %s\n             sha256 %s\n", r.Signer.Subject, r.Signer.SHA256)
		}
		if r.Sender != nil && r.Sender.Checked {
			fmt.Fprintf(w, "  sender:    %s (not bound in %s)\n", r.Sender.OrganID, bindingsFile)
		}
		return
	}
	fmt.Fprintf(w, "%s: VALID\n", r.File)
	fmt.Fprintf(w, "  signer:    %s\n", r.Signer.Subject)
	fmt.Fprintf(w, "             sha256 %s, serial %s\n", r.Signer.SHA256, r.Signer.Serial)
	fmt.Fprintf(w, "             valid %s to %s\n", r.Signer.NotBefore.Format(time.RFC3339), r.Signer.NotAfter.Format(time.RFC3339))
	for i, c := range r.Chain[1:] {
		label := "             "
		if i == 0 {
			label = "  chain:     "
		}
		fmt.Fprintf(w, "%s%d. %s (sha256 %s)\n", label, i+1, c.Subject, c.SHA256)
	}
	switch {
	case r.Sender == nil:
		fmt.Fprintf(w, "  sender:    unknown (the package's From could not be read)\n")
	case r.Sender.Checked:
		fmt.Fprintf(w, "  sender:    %s, bound in %s\n", r.Sender.OrganID, bindingsFile)
	default:
		fmt.Fprintf(w, "  sender:    %s (binding not checked: no --bindings)\n", r.Sender.OrganID)
	}
	fmt.Fprintf(w, "  signature: %s, digest %s, checked at %s\n", algName(r.Evidence.SignatureAlgorithm), algName(r.Evidence.DigestAlgorithm), r.Evidence.At.Format(time.RFC3339))
	if len(r.Evidence.CRLs) == 0 {
		fmt.Fprintf(w, "  crls:      none (revocation not checked)\n")
	}
	for i, c := range r.Evidence.CRLs {
		label := "             "
		if i == 0 {
			label = "  crls:      "
		}
		fmt.Fprintf(w, "%s%s, number %s, next update %s\n", label, c.Issuer, c.Number, c.NextUpdate.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "  package:   sha256 %s\n", r.SHA256)
}

// algName shortens an algorithm URI to its fragment ("rsa-sha256").
func algName(uri string) string {
	if i := strings.LastIndexByte(uri, '#'); i >= 0 && i < len(uri)-1 {
		return uri[i+1:]
	}
	return uri
}

// readConfigFile reads a bindings file (at most 64 MiB).
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readCapped(f, 64<<20)
}
