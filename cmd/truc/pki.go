package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"truc.vn/truc/signing"
	"truc.vn/truc/signing/demopki"
)

const pkiSynopsis = "pki <init|issue|revoke|crl|list> [flags]"

const pkiExplain = `
Create and run a demo PKI shaped like the government one (Ban Cơ yếu Chính
phủ): a root "RootCA chuyên dùng Chính phủ (DEMO)" (RSA-4096), an issuing CA
"CA phục vụ các cơ quan Nhà nước (DEMO)" (RSA-3072), and agency-seal and
person certificates for signing edXML packages. Everything is kept in one
directory (--dir, default demo-pki): PEM certificates, private keys (mode
0600), optional .p12 files, CRLs, and index.json listing what was issued.
It is for development, tests and pilots; production keys come from the
real CA.

Subcommands:
  init     create the root and issuing CA (RSA-4096 key generation takes seconds)
  issue    issue an agency-seal or person certificate
  revoke   revoke an issued certificate (then run crl)
  crl      sign fresh CRLs of both CAs (root-ca.crl, issuing-ca.crl)
  list     list the issued certificates

Run "truc pki <subcommand> -h" for its flags.

Example, from nothing to a verified package:
  truc pki init
  truc pki issue --cn "VĂN PHÒNG CHÍNH PHỦ" --o "CHÍNH PHỦ" --l "Hà Nội" --name vpcp --organ-id 000.00.00.G22
  truc pki crl
  truc sign --key demo-pki/issued/vpcp.key --cert demo-pki/issued/vpcp-chain.pem letter.edxml
  truc verify --roots demo-pki/root-ca.pem --intermediates demo-pki/issuing-ca.pem \
      --crl demo-pki/issuing-ca.crl --crl demo-pki/root-ca.crl letter.signed.edxml
`

func runPKI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pki", pkiSynopsis, pkiExplain, stderr)
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := parseFlags(fs, args, stdout); err != nil {
			return err
		}
		return usageError("pki: which subcommand? init, issue, revoke, crl or list (see truc pki -h)")
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "init":
		return runPKIInit(rest, stdout, stderr)
	case "issue":
		return runPKIIssue(rest, stdout, stderr)
	case "revoke":
		return runPKIRevoke(rest, stdout, stderr)
	case "crl":
		return runPKICRL(rest, stdout, stderr)
	case "list":
		return runPKIList(rest, stdout, stderr)
	}
	return usageError(fmt.Sprintf("pki: unknown subcommand %q (want init, issue, revoke, crl or list)", sub))
}

const defaultPKIDir = "demo-pki"

func runPKIInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pki init", "pki init [--dir DIR] [--crl-url URL] [flags]", `
Create a demo PKI in --dir: a root CA and an issuing CA below it, with
their keys, certificates and empty state. The directory must not already
hold a PKI. Certificates name CRL distribution points under --crl-url,
where you may publish the files that "truc pki crl" writes.

--root-key and --issuing-key choose other key types (`+keyTypeList()+`):
smaller ones start faster, for tests that are not about key size.

Example:
  truc pki init --dir demo-pki --crl-url http://pki.example.gov.vn/crl
`, stderr)
	dir := fs.String("dir", defaultPKIDir, "PKI `directory`")
	crlURL := fs.String("crl-url", demopki.DefaultCRLBaseURL, "base `URL` where root-ca.crl and issuing-ca.crl are published")
	rootKey := fs.String("root-key", string(demopki.RSA4096), "root CA key `type`")
	issuingKey := fs.String("issuing-key", string(demopki.RSA3072), "issuing CA key `type`")
	rootCN := fs.String("root-cn", demopki.DefaultRootCN, "root CA common `name`")
	issuingCN := fs.String("issuing-cn", demopki.DefaultIssuingCN, "issuing CA common `name`")
	org := fs.String("org", demopki.DefaultOrganization, "`organization` (O) of both CAs")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("pki init: unexpected argument %q", fs.Arg(0)))
	}
	fmt.Fprintf(stderr, "generating the CA keys (%s root, %s issuing CA)...\n", *rootKey, *issuingKey)
	start := time.Now()
	ca, err := demopki.Init(*dir, demopki.InitOptions{
		RootKey: demopki.KeyType(*rootKey), IssuingKey: demopki.KeyType(*issuingKey),
		RootCN: *rootCN, IssuingCN: *issuingCN, Organization: *org, CRLBaseURL: *crlURL,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created a demo PKI in %s (%.1fs)\n", ca.Dir(), time.Since(start).Seconds())
	fmt.Fprintf(stdout, "  root CA:    %s\n              sha256 %s\n              %s  (the trust anchor: truc verify --roots)\n",
		ca.Root().Subject, signing.Fingerprint(ca.Root()), ca.Path(demopki.RootCertFile))
	fmt.Fprintf(stdout, "  issuing CA: %s\n              sha256 %s\n              %s  (truc verify --intermediates)\n",
		ca.Issuing().Subject, signing.Fingerprint(ca.Issuing()), ca.Path(demopki.IssuingCertFile))
	fmt.Fprintf(stdout, "next: truc pki issue --dir %s --cn NAME --o PARENT --l PROVINCE --name FILE\n", ca.Dir())
	return nil
}

func keyTypeList() string {
	var s []string
	for _, k := range demopki.KeyTypes {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

func runPKIIssue(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pki issue", "pki issue [--dir DIR] --cn NAME --o ORG [--l PROVINCE] [--kind agency|person] [flags]", `
Issue an end-entity certificate from the issuing CA and write it under
DIR/issued/: NAME.pem (certificate), NAME-chain.pem (certificate and
issuing CA: what truc sign --cert wants), NAME.key (private key, mode 0600)
and, with --p12, NAME.p12 (key and chain; password from --p12-password-env
or --p12-password-file).

An agency seal (--kind agency, the default) is CN=<agency>, O=<parent
body>, L=<province>, C=VN; a person certificate is CN=<full name>,
OU=<unit>, O=<agency>, C=VN with an optional e-mail address. Both may sign
documents (key usage digitalSignature + contentCommitment, extended key
usage documentSigning). The key is RSA-2048 unless --rsa-bits 3072 or
--ecdsa (P-256). With --csr the key stays where it is (a token): the
public key of the CSR is certified, its subject ignored.

With --organ-id, it also prints the bindings entry that lets this
certificate sign for that OrganId (see configs/bindings.example.yaml).

Example:
  truc pki issue --cn "CỤC THUẾ" --o "BỘ TÀI CHÍNH" --l "Hà Nội" --name cuc-thue --organ-id 000.00.12.G12
  truc pki issue --kind person --cn "Nguyễn Văn An" --ou "Phòng Hành chính" --o "UBND tỉnh Tây Ninh" --email an@tayninh.gov.vn --ecdsa
`, stderr)
	dir := fs.String("dir", defaultPKIDir, "PKI `directory`")
	kind := fs.String("kind", string(demopki.Agency), "certificate `kind`: agency (seal) or person")
	cn := fs.String("cn", "", "common `name`: the agency's or the person's name")
	o := fs.String("o", "", "`organization`: the parent body (agency) or the person's agency")
	ou := fs.String("ou", "", "organizational `unit` (person only)")
	l := fs.String("l", "", "`locality`: province or city (required for an agency)")
	email := fs.String("email", "", "e-mail `address` (person only)")
	name := fs.String("name", "", "file base `name` under issued/ (default: the serial number)")
	rsaBits := fs.Int("rsa-bits", 2048, "RSA key `size`: 2048 or 3072")
	ecdsaKey := fs.Bool("ecdsa", false, "generate an ECDSA P-256 key instead of RSA")
	days := fs.Int("days", 0, "validity in `days` (default 5 years for an agency, 3 for a person)")
	csrFile := fs.String("csr", "", "certify the public key of this PEM certificate request `file` instead of generating a key")
	p12 := fs.Bool("p12", false, "also write NAME.p12")
	p12Env := fs.String("p12-password-env", "", "read the .p12 password from environment variable `NAME`")
	p12File := fs.String("p12-password-file", "", "read the .p12 password from `file`")
	organID := fs.String("organ-id", "", "print a bindings entry for this `OrganId`")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("pki issue: unexpected argument %q (quote names with spaces)", fs.Arg(0)))
	}
	req := demopki.IssueRequest{
		Kind: demopki.Kind(*kind), CommonName: *cn, Organization: *o, OrganizationalUnit: *ou,
		Locality: *l, Email: *email, Name: *name,
	}
	switch {
	case *ecdsaKey && *rsaBits != 2048:
		return usageError("pki issue: --ecdsa and --rsa-bits exclude each other")
	case *ecdsaKey:
		req.Key = demopki.ECDSAP256
	case *rsaBits == 2048:
		req.Key = demopki.RSA2048
	case *rsaBits == 3072:
		req.Key = demopki.RSA3072
	default:
		return usageError(fmt.Sprintf("pki issue: --rsa-bits %d: want 2048 or 3072", *rsaBits))
	}
	if *days < 0 {
		return usageError("pki issue: --days must be positive")
	}
	req.Validity = time.Duration(*days) * 24 * time.Hour
	if *csrFile != "" {
		if *p12 {
			return usageError("pki issue: --p12 needs the private key, which a --csr does not give")
		}
		pub, err := readCSRPublicKey(*csrFile)
		if err != nil {
			return usageError("pki issue: --csr: " + err.Error())
		}
		req.PublicKey = pub
	}
	if *p12 {
		if (*p12Env == "") == (*p12File == "") {
			return usageError("pki issue: --p12 needs its password from exactly one of --p12-password-env and --p12-password-file")
		}
		pw, err := readSecret(*p12Env, *p12File, stderr)
		if err != nil {
			return usageError("pki issue: " + err.Error())
		}
		req.PKCS12Password = pw
	} else if *p12Env != "" || *p12File != "" {
		return usageError("pki issue: a .p12 password is given but not --p12")
	}
	if *organID != "" && (len(*organID) > 35 || strings.Trim(*organID, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.") != "") {
		return usageError(fmt.Sprintf("pki issue: --organ-id %q is not an OrganId", *organID))
	}

	ca, err := demopki.Open(*dir, demopki.OpenOptions{})
	if err != nil {
		return err
	}
	got, err := ca.Issue(req)
	if err != nil {
		return err
	}
	e := got.Entry
	fmt.Fprintf(stdout, "issued %s certificate %s\n", e.Kind, e.Name)
	fmt.Fprintf(stdout, "  subject: %s\n  serial:  %s\n  sha256:  %s\n  key:     %s\n  valid:   %s to %s\n",
		e.Subject, e.Serial, e.SHA256, e.KeyType, e.NotBefore.Format(time.RFC3339), e.NotAfter.Format(time.RFC3339))
	fmt.Fprintf(stdout, "  files:   %s\n", got.CertFile)
	for _, p := range []string{got.ChainFile, got.KeyFile, got.PKCS12File} {
		if p != "" {
			fmt.Fprintf(stdout, "           %s\n", p)
		}
	}
	if *organID != "" {
		fmt.Fprintf(stdout, "\nbindings entry:\n  - organ_id: %s\n    name: %q\n    certificates:\n      - %s\n", *organID, got.Certificate.Subject.CommonName, e.SHA256)
	}
	return nil
}

// readCSRPublicKey returns the public key of a PEM or DER certificate
// request whose self-signature verifies.
func readCSRPublicKey(path string) (any, error) {
	b, err := readSmallFile(path)
	if err != nil {
		return nil, err
	}
	der := b
	if block, _ := pem.Decode(b); block != nil {
		if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("%s: PEM block %q is not a CERTIFICATE REQUEST", path, block.Type)
		}
		der = block.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%s: the request's signature does not verify: %w", path, err)
	}
	return csr.PublicKey, nil
}

func runPKIRevoke(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pki revoke", "pki revoke [--dir DIR] [--reason REASON] [--at TIME] NAME|SERIAL", `
Revoke a certificate this PKI issued, by its file name or serial number
(hex). The revocation is recorded in index.json; run "truc pki crl" to
publish it. Reasons: `+strings.Join(demopki.ReasonNames(), ", ")+`.

Example:
  truc pki revoke --reason key-compromise vpcp && truc pki crl
`, stderr)
	dir := fs.String("dir", defaultPKIDir, "PKI `directory`")
	reasonName := fs.String("reason", "unspecified", "revocation `reason`")
	atFlag := fs.String("at", "", "revocation `time`, RFC 3339, not in the future (default now)")
	refs, err := parseInterleaved(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(refs) != 1 {
		return usageError("pki revoke: give exactly one certificate name or serial number")
	}
	reason, err := demopki.ParseRevocationReason(*reasonName)
	if err != nil {
		return usageError("pki revoke: --reason: " + err.Error())
	}
	var at time.Time
	if *atFlag != "" {
		if at, err = time.Parse(time.RFC3339, *atFlag); err != nil {
			return usageError(fmt.Sprintf("pki revoke: --at %q: want an RFC 3339 time", *atFlag))
		}
	}
	ca, err := demopki.Open(*dir, demopki.OpenOptions{})
	if err != nil {
		return err
	}
	e, ok := ca.Lookup(refs[0])
	if !ok {
		return fmt.Errorf("pki revoke: %q: %w (see truc pki list)", refs[0], demopki.ErrNotFound)
	}
	serial, _ := new(big.Int).SetString(e.Serial, 16)
	if err := ca.Revoke(serial, reason, at); err != nil {
		return err
	}
	e, _ = ca.Lookup(e.Serial)
	fmt.Fprintf(stdout, "revoked %s (serial %s) at %s, reason %s\n", e.Name, e.Serial, e.RevokedAt.Format(time.RFC3339), e.Reason)
	fmt.Fprintf(stdout, "next: truc pki crl --dir %s, then publish the CRLs\n", *dir)
	return nil
}

func runPKICRL(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pki crl", "pki crl [--dir DIR]", `
Sign fresh CRLs of both CAs as of now, each with the next CRL number, and
write them (DER) to DIR/issuing-ca.crl and DIR/root-ca.crl. They are valid
for the PKI's CRL validity (7 days by default): run it again before then.

Example:
  truc pki crl --dir demo-pki
`, stderr)
	dir := fs.String("dir", defaultPKIDir, "PKI `directory`")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("pki crl: unexpected argument %q", fs.Arg(0)))
	}
	ca, err := demopki.Open(*dir, demopki.OpenOptions{})
	if err != nil {
		return err
	}
	now := time.Now()
	for _, c := range []struct {
		file string
		sign func(time.Time) ([]byte, error)
	}{{demopki.IssuingCRLFile, ca.CRL}, {demopki.RootCRLFile, ca.RootCRL}} {
		der, err := c.sign(now)
		if err != nil {
			return err
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			return fmt.Errorf("pki crl: reading back %s: %w", c.file, err)
		}
		fmt.Fprintf(stdout, "%s: number %s, %d revoked, next update %s\n",
			filepath.Join(*dir, c.file), crl.Number, len(crl.RevokedCertificateEntries), crl.NextUpdate.Format(time.RFC3339))
	}
	fmt.Fprintf(stdout, "publish them under %s\n", ca.CRLBaseURL())
	return nil
}

func runPKIList(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pki list", "pki list [--dir DIR]", `
List the certificates the PKI issued: name, kind, serial, status, end of
validity and subject.

Example:
  truc pki list --dir demo-pki
`, stderr)
	dir := fs.String("dir", defaultPKIDir, "PKI `directory`")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("pki list: unexpected argument %q", fs.Arg(0)))
	}
	ca, err := demopki.Open(*dir, demopki.OpenOptions{})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tSERIAL\tSTATUS\tNOT AFTER\tSUBJECT")
	now := time.Now()
	for _, e := range ca.Entries() {
		status := "valid"
		switch {
		case e.RevokedAt != nil:
			status = "revoked (" + e.Reason.String() + ")"
		case now.After(e.NotAfter):
			status = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Kind, e.Serial, status, e.NotAfter.Format(time.DateOnly), e.Subject)
	}
	return tw.Flush()
}
