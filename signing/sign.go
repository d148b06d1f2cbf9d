package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"truc.vn/truc/edoc"
)

// Signing errors.
var (
	// ErrAlreadySigned is returned when the package already carries a
	// W3C XML-DSig Signature at the profile place and SignOptions.Resign
	// is not set.
	ErrAlreadySigned = errors.New("package already carries an XML-DSig signature (set Resign to replace it)")

	// ErrNotPackage is returned for XML that is not an edXML package in
	// the shape the profile signs (root edXML, one edXMLEnvelope, one
	// edXMLHeader).
	ErrNotPackage = errors.New("not an edXML package")
)

// SignOptions tune one Sign call.
type SignOptions struct {
	// Resign replaces an existing W3C signature at the profile place
	// instead of refusing with ErrAlreadySigned. The old signature is not
	// checked: whoever re-signs takes responsibility for the content.
	Resign bool
	// Limits bound the input (zero value: edoc defaults, 16 MiB).
	Limits edoc.Limits
}

// Signer signs edXML packages with one key and certificate chain. It is
// safe for concurrent use if the key is.
type Signer struct {
	key      crypto.Signer
	chain    []*x509.Certificate
	certsB64 []string
	sa       sigAlg
	da       digestAlg
}

// NewSigner returns a Signer for key. chain[0] is the certificate of key
// (its public key must match) and the rest are its issuers in order, as
// they will appear in KeyInfo; the root may be left out. The key must be
// RSA of 2048–4096 bits (signed with rsa-sha256) or ECDSA on P-256,
// P-384 or P-521 (ecdsa-sha256/384/512 with the matching digest).
//
// NewSigner checks that the leaf may sign documents (the same key-usage
// rule as Verifier) and that each certificate is signed by the next. It
// does not check validity periods, trust or revocation: the verifier does,
// at its own time.
func NewSigner(key crypto.Signer, chain []*x509.Certificate) (*Signer, error) {
	if key == nil {
		return nil, errors.New("new signer: no key")
	}
	if len(chain) == 0 || chain[0] == nil {
		return nil, errors.New("new signer: no certificate: chain[0] must be the key's certificate")
	}
	pub := key.Public()
	if k, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(chain[0].PublicKey) {
		return nil, fmt.Errorf("new signer: the key does not match the certificate %q", chain[0].Subject)
	}
	sa, da, err := algorithmsFor(pub)
	if err != nil {
		return nil, fmt.Errorf("new signer: %w", err)
	}
	if err := checkLeafUsage(chain[0]); err != nil {
		return nil, fmt.Errorf("new signer: %w", err)
	}
	s := &Signer{key: key, sa: sa, da: da}
	for i, c := range chain {
		if c == nil {
			return nil, fmt.Errorf("new signer: chain[%d] is nil", i)
		}
		if i > 0 {
			if err := chain[i-1].CheckSignatureFrom(c); err != nil {
				return nil, fmt.Errorf("new signer: chain[%d] %q is not issued by chain[%d] %q: %w", i-1, chain[i-1].Subject, i, c.Subject, err)
			}
		}
		s.chain = append(s.chain, c)
		s.certsB64 = append(s.certsB64, base64.StdEncoding.EncodeToString(c.Raw))
	}
	return s, nil
}

// Certificate returns the signer's certificate (chain[0]).
func (s *Signer) Certificate() *x509.Certificate { return s.chain[0] }

// Sign returns a signed copy of the edXML package pkg; pkg is not changed.
//
// It reads pkg with edoc.ReadTree (so the hardening and opts.Limits
// apply), removes any QCVN-namespace Signature child of edXMLHeader (the
// legacy block or the SDK's placeholder), and appends a W3C enveloped
// signature as the last child of edXMLHeader: exclusive c14n, one
// Reference URI="" over the whole package including attachments, and
// KeyInfo with the chain. The output is the serialisation of the tree,
// XML declaration first, with CR, TAB and LF in attribute values and CR in
// text written as character references so that any parser reads back the
// signed values.
//
// It refuses (ErrAlreadySigned) a package that already has a W3C
// signature at the profile place unless opts.Resign is set, and always
// refuses one with a W3C Signature anywhere else, or with a comment inside
// the text of an element (see the package documentation): the result
// would not verify.
func (s *Signer) Sign(pkg []byte, opts SignOptions) ([]byte, error) {
	doc, err := edoc.ReadTree(bytes.NewReader(pkg), opts.Limits)
	if err != nil {
		return nil, fmt.Errorf("signing: reading the package: %w", err)
	}
	root := doc.Root()
	header, err := profileHeader(root)
	if err != nil {
		return nil, fmt.Errorf("signing: %w: %v", ErrNotPackage, err)
	}

	w3c, legacy := signatureElements(root)
	for _, l := range legacy {
		if l.Parent() == header {
			removeWithIndent(header, l)
		}
	}
	for _, old := range w3c {
		switch {
		case old.Parent() != header || lastChildElement(header) != old:
			return nil, fmt.Errorf("signing: the package has an XML-DSig Signature at %s, outside the profile place (last child of edXMLHeader): refusing to sign", old.GetPath())
		case !opts.Resign:
			return nil, fmt.Errorf("signing: %w", ErrAlreadySigned)
		default:
			removeWithIndent(header, old)
		}
	}

	t := newDSigTemplate(s.sa, s.da, s.certsB64)
	appendWithIndent(header, t.signature)

	h := s.da.hash.New()
	if err := canonicalize(h, root, c14nOptions{exclude: t.signature}); err != nil {
		return nil, fmt.Errorf("signing: canonicalising the package: %w", err)
	}
	t.digestValue.SetText(base64.StdEncoding.EncodeToString(h.Sum(nil)))

	h = s.sa.hash.New()
	if err := canonicalize(h, t.signedInfo, c14nOptions{}); err != nil {
		return nil, fmt.Errorf("signing: canonicalising SignedInfo: %w", err)
	}
	value, err := s.signDigest(h.Sum(nil))
	if err != nil {
		return nil, err
	}
	t.signatureValue.SetText(base64.StdEncoding.EncodeToString(value))

	if len(doc.Child) == 0 || !isXMLDecl(doc.Child[0]) {
		doc.InsertChildAt(0, etree.NewProcInst("xml", `version="1.0" encoding="UTF-8"`))
	}
	if _, ok := doc.Child[1].(*etree.CharData); !ok {
		doc.InsertChildAt(1, etree.NewText("\n"))
	}
	var out bytes.Buffer
	out.Grow(len(pkg) + 4096)
	writeDocument(&out, doc)
	return out.Bytes(), nil
}

// signDigest signs the SignedInfo digest. Unless the key is one of Go's
// own (whose RSA signing already re-checks its result against faults), the
// signature is checked with the public key before it leaves: a faulty
// token or HSM must not emit a signature that fails to verify.
func (s *Signer) signDigest(digest []byte) ([]byte, error) {
	value, err := s.key.Sign(rand.Reader, digest, s.sa.hash)
	if err != nil {
		return nil, fmt.Errorf("signing: the key refused to sign: %w", err)
	}
	pub, isECDSA := s.key.Public().(*ecdsa.PublicKey)
	if isECDSA {
		if value, err = ecdsaDERToP1363(value, ecdsaByteLen(pub)); err != nil {
			return nil, fmt.Errorf("signing: %w", err)
		}
	}
	switch s.key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
		return value, nil
	}
	if verr := checkSignature(s.key.Public(), s.sa, digest, value); verr != nil {
		return nil, fmt.Errorf("signing: the key produced a signature that does not verify: %s", verr.Detail)
	}
	return value, nil
}

func isXMLDecl(t etree.Token) bool {
	pi, ok := t.(*etree.ProcInst)
	return ok && pi.Target == "xml"
}

func isSpace(t etree.Token) bool {
	cd, ok := t.(*etree.CharData)
	return ok && strings.TrimLeft(cd.Data, " \t\r\n") == ""
}

// removeWithIndent removes el from parent together with the whitespace
// just before it, so that the layout stays tidy.
func removeWithIndent(parent, el *etree.Element) {
	i := el.Index()
	parent.RemoveChildAt(i)
	if i > 0 && isSpace(parent.Child[i-1]) {
		parent.RemoveChildAt(i - 1)
	}
}

// appendWithIndent makes el the last child element of parent. If parent
// ends with whitespace (its closing tag's indentation), el goes before it,
// indented like the previous child element.
func appendWithIndent(parent, el *etree.Element) {
	n := len(parent.Child)
	if n == 0 || !isSpace(parent.Child[n-1]) {
		parent.AddChild(el)
		return
	}
	indent := ""
	if prev := lastChildElement(parent); prev != nil {
		if j := prev.Index(); j > 0 && isSpace(parent.Child[j-1]) {
			indent = parent.Child[j-1].(*etree.CharData).Data
		}
	}
	parent.InsertChildAt(n-1, el)
	if indent != "" {
		parent.InsertChildAt(n-1, etree.NewText(indent))
	}
}
