package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	_ "crypto/sha1" // crypto.SHA1 for legacy verification
	_ "crypto/sha256"
	_ "crypto/sha512"
	"fmt"

	"github.com/beevik/etree"
)

// Namespaces of the profile. They are wire constants and never change.
const (
	// NamespaceEdXML is the QCVN 102:2016 namespace of every edXML element.
	NamespaceEdXML = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
	// NamespaceDSig is the W3C XML-DSig namespace our signatures live in.
	NamespaceDSig = "http://www.w3.org/2000/09/xmldsig#"
)

// Algorithm identifiers (URIs) of the profile. Wire constants.
const (
	AlgExcC14N            = "http://www.w3.org/2001/10/xml-exc-c14n#"
	AlgEnvelopedSignature = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

	AlgRSASHA1     = "http://www.w3.org/2000/09/xmldsig#rsa-sha1" // legacy, verification only
	AlgRSASHA256   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	AlgRSASHA384   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	AlgRSASHA512   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	AlgECDSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	AlgECDSASHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
	AlgECDSASHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"

	AlgSHA1   = "http://www.w3.org/2000/09/xmldsig#sha1" // legacy, verification only
	AlgSHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
	AlgSHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	AlgSHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
)

// The RSA modulus sizes the profile signs and verifies with. Below 2048 is
// broken or nearly so; above 4096 only costs time (and lets a hostile
// certificate make verification slow).
const (
	profileMinRSABits = 2048
	profileMaxRSABits = 4096
)

// sigAlg is one signature method of the allow-list.
type sigAlg struct {
	uri    string
	hash   crypto.Hash
	ecdsa  bool // false: RSA PKCS#1 v1.5
	legacy bool // SHA-1: verification only, under Policy.AllowSHA1
}

var signatureAlgs = map[string]sigAlg{
	AlgRSASHA1:     {AlgRSASHA1, crypto.SHA1, false, true},
	AlgRSASHA256:   {AlgRSASHA256, crypto.SHA256, false, false},
	AlgRSASHA384:   {AlgRSASHA384, crypto.SHA384, false, false},
	AlgRSASHA512:   {AlgRSASHA512, crypto.SHA512, false, false},
	AlgECDSASHA256: {AlgECDSASHA256, crypto.SHA256, true, false},
	AlgECDSASHA384: {AlgECDSASHA384, crypto.SHA384, true, false},
	AlgECDSASHA512: {AlgECDSASHA512, crypto.SHA512, true, false},
}

// digestAlg is one digest method of the allow-list.
type digestAlg struct {
	uri    string
	hash   crypto.Hash
	legacy bool
}

var digestAlgs = map[string]digestAlg{
	AlgSHA1:   {AlgSHA1, crypto.SHA1, true},
	AlgSHA256: {AlgSHA256, crypto.SHA256, false},
	AlgSHA384: {AlgSHA384, crypto.SHA384, false},
	AlgSHA512: {AlgSHA512, crypto.SHA512, false},
}

// algorithmsFor returns the signature and digest methods we sign with for
// a public key: rsa-sha256 for RSA, and for ECDSA the hash that matches the
// curve (P-256 → SHA-256, P-384 → SHA-384, P-521 → SHA-512), with the same
// hash as digest. It also enforces the key sizes and curves of the profile.
func algorithmsFor(pub crypto.PublicKey) (sigAlg, digestAlg, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if err := checkRSASize(k); err != nil {
			return sigAlg{}, digestAlg{}, err
		}
		return signatureAlgs[AlgRSASHA256], digestAlgs[AlgSHA256], nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return signatureAlgs[AlgECDSASHA256], digestAlgs[AlgSHA256], nil
		case elliptic.P384():
			return signatureAlgs[AlgECDSASHA384], digestAlgs[AlgSHA384], nil
		case elliptic.P521():
			return signatureAlgs[AlgECDSASHA512], digestAlgs[AlgSHA512], nil
		}
		return sigAlg{}, digestAlg{}, fmt.Errorf("ECDSA curve %s is not P-256, P-384 or P-521", k.Curve.Params().Name)
	default:
		return sigAlg{}, digestAlg{}, fmt.Errorf("%T keys have no XML-DSig profile in edXML: use RSA or ECDSA", pub)
	}
}

func checkRSASize(k *rsa.PublicKey) error {
	if bits := k.N.BitLen(); bits < profileMinRSABits || bits > profileMaxRSABits {
		return fmt.Errorf("RSA key of %d bits is outside the profile's %d–%d bits", bits, profileMinRSABits, profileMaxRSABits)
	}
	return nil
}

// isNS reports whether el is the element {ns}local.
func isNS(el *etree.Element, ns, local string) bool {
	return el.Tag == local && el.NamespaceURI() == ns
}

// childrenNS returns el's child elements named {ns}local.
func childrenNS(el *etree.Element, ns, local string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.Child {
		if e, ok := c.(*etree.Element); ok && isNS(e, ns, local) {
			out = append(out, e)
		}
	}
	return out
}

// shapeError reports a package that is not in the profile's shape.
// duplicate is set when an envelope or header appears twice: the shape of
// a wrapping attack, where a reader may pick either copy.
type shapeError struct {
	msg       string
	duplicate bool
}

func (e *shapeError) Error() string { return e.msg }

// profileHeader returns the edXMLHeader of a package: the root must be
// {QCVN}edXML with exactly one {QCVN}edXMLEnvelope child holding exactly one
// {QCVN}edXMLHeader. This is where the signature lives (as its last child
// element). Errors are *shapeError and name the element and the rule.
func profileHeader(root *etree.Element) (*etree.Element, error) {
	if root == nil || !isNS(root, NamespaceEdXML, "edXML") {
		name := "nothing"
		if root != nil {
			name = fmt.Sprintf("{%s}%s", root.NamespaceURI(), root.Tag)
		}
		return nil, &shapeError{msg: fmt.Sprintf("root element is %s: an edXML package has root {%s}edXML", name, NamespaceEdXML)}
	}
	env := childrenNS(root, NamespaceEdXML, "edXMLEnvelope")
	if len(env) != 1 {
		return nil, &shapeError{fmt.Sprintf("edXML has %d edXMLEnvelope children: the profile requires exactly one", len(env)), len(env) > 1}
	}
	hdr := childrenNS(env[0], NamespaceEdXML, "edXMLHeader")
	if len(hdr) != 1 {
		return nil, &shapeError{fmt.Sprintf("edXMLEnvelope has %d edXMLHeader children: the profile requires exactly one", len(hdr)), len(hdr) > 1}
	}
	return hdr[0], nil
}

// lastChildElement returns el's last child element, or nil.
func lastChildElement(el *etree.Element) *etree.Element {
	for i := len(el.Child) - 1; i >= 0; i-- {
		if e, ok := el.Child[i].(*etree.Element); ok {
			return e
		}
	}
	return nil
}

// signatureElements walks the tree and returns every element named
// Signature in the W3C namespace and every one in the QCVN namespace
// (the legacy form the existing axis writes), in document order.
func signatureElements(root *etree.Element) (w3c, legacy []*etree.Element) {
	var walk func(*etree.Element)
	walk = func(el *etree.Element) {
		if el.Tag == "Signature" {
			switch el.NamespaceURI() {
			case NamespaceDSig:
				w3c = append(w3c, el)
			case NamespaceEdXML:
				legacy = append(legacy, el)
			}
		}
		for _, c := range el.Child {
			if e, ok := c.(*etree.Element); ok {
				walk(e)
			}
		}
	}
	walk(root)
	return w3c, legacy
}

// checkOutsideRoot rejects processing instructions before or after the
// root element (other than the XML declaration). edoc.ReadTree drops them
// silently, but with Reference URI="" they belong to the signed document:
// a verifier such as xmlsec1 would digest them. Refusing them keeps us from
// accepting bytes that another verifier rejects. Comments and whitespace
// outside the root are outside the canonical form and harmless.
func checkOutsideRoot(pkg []byte) error {
	// Prolog: skip a byte order mark (edoc.ReadTree does), whitespace, the
	// declaration, comments and PIs up to the root start tag.
	p := bytes.TrimPrefix(pkg, []byte("\ufeff"))
	for {
		p = bytes.TrimLeft(p, " \t\r\n")
		switch {
		case bytes.HasPrefix(p, []byte("<!--")):
			end := bytes.Index(p[4:], []byte("-->"))
			if end < 0 {
				return nil
			}
			p = p[4+end+3:]
		case bytes.HasPrefix(p, []byte("<?")):
			end := bytes.Index(p[2:], []byte("?>"))
			if end < 0 {
				return nil // unterminated: the parser reports it
			}
			end += 2
			target := p[2:end]
			if i := bytes.IndexAny(target, " \t\r\n"); i >= 0 {
				target = target[:i]
			}
			if string(target) != "xml" {
				return fmt.Errorf("processing instruction <?%.40s?> before the root element is not allowed", target)
			}
			p = p[end+2:]
		default:
			goto epilog
		}
	}
epilog:
	// Epilog: walk back over whitespace and comments from the end. The
	// root is {QCVN}edXML, so its end tag never ends in "?>" or "-->".
	e := pkg
	for {
		e = bytes.TrimRight(e, " \t\r\n")
		switch {
		case bytes.HasSuffix(e, []byte("-->")):
			start := bytes.LastIndex(e[:len(e)-3], []byte("<!--"))
			if start < 0 {
				return nil
			}
			e = e[:start]
		case bytes.HasSuffix(e, []byte("?>")):
			return fmt.Errorf("processing instruction after the root element is not allowed")
		default:
			return nil
		}
	}
}
