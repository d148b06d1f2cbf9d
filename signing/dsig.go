package signing

import (
	"encoding/base64"
	"strings"

	"github.com/beevik/etree"
)

// This file reads and builds the ds:Signature block of the profile. The
// reader is strict: every element of the block must be one the profile
// names, in its place, so that nothing in a Signature is silently ignored
// (signing-stack note §1.4-8: goxmldsig checks one Reference and ignores
// the rest).

// namespaceExcC14N is the namespace of the InclusiveNamespaces element.
const namespaceExcC14N = "http://www.w3.org/2001/10/xml-exc-c14n#"

// KeyInfo bounds: a chain is leaf, a few intermediates, maybe the root.
const (
	maxKeyInfoCerts   = 8
	maxCertBase64Size = 64 << 10
)

// maxInclusivePrefixes caps an InclusiveNamespaces PrefixList. Producers
// write a handful of prefixes; every prefix costs a scan of the namespaces
// in scope at every canonicalised element, and SignedInfo is canonicalised
// before its SignatureValue is checked, so an unbounded list was a CPU
// amplifier open to anyone (red-team finding, TestRedteamPrefixListBounded).
const maxInclusivePrefixes = 32

// dsigBlock is a W3C Signature element that passed the profile's checks.
type dsigBlock struct {
	el           *etree.Element
	signedInfo   *etree.Element
	sigAlg       sigAlg
	digestAlg    digestAlg
	siPrefixes   []string // InclusiveNamespaces of CanonicalizationMethod
	refPrefixes  []string // InclusiveNamespaces of the exc-c14n Transform
	digestValue  []byte
	signature    []byte
	certificates [][]byte // DER, in KeyInfo order
}

// dsigChildren returns el's child elements after checking that they are all
// in the XML-DSig namespace and that el holds no text other than
// whitespace. Comments and processing instructions are left to c14n.
func dsigChildren(el *etree.Element) ([]*etree.Element, *VerifyError) {
	var out []*etree.Element
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Element:
			if t.NamespaceURI() != NamespaceDSig {
				return nil, verifyErrorf(ReasonMalformed, nil, "%s holds {%s}%s, which the profile does not allow", el.Tag, t.NamespaceURI(), t.Tag)
			}
			out = append(out, t)
		case *etree.CharData:
			if strings.TrimSpace(t.Data) != "" {
				return nil, verifyErrorf(ReasonMalformed, nil, "%s holds text", el.Tag)
			}
		}
	}
	return out, nil
}

// expect checks that els are exactly the named elements in order.
func expect(parent string, els []*etree.Element, names ...string) *VerifyError {
	if len(els) != len(names) {
		got := make([]string, len(els))
		for i, e := range els {
			got[i] = e.Tag
		}
		return verifyErrorf(ReasonMalformed, nil, "%s holds [%s], want [%s]", parent, strings.Join(got, " "), strings.Join(names, " "))
	}
	for i, e := range els {
		if e.Tag != names[i] {
			return verifyErrorf(ReasonMalformed, nil, "%s child %d is %s, want %s", parent, i+1, e.Tag, names[i])
		}
	}
	return nil
}

// onlyAttrs checks that el carries no attributes other than namespace
// declarations and the allowed names.
func onlyAttrs(el *etree.Element, allowed ...string) *VerifyError {
	for _, a := range el.Attr {
		if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			continue
		}
		ok := false
		for _, n := range allowed {
			if a.Space == "" && a.Key == n {
				ok = true
			}
		}
		if !ok {
			return verifyErrorf(ReasonMalformed, nil, "%s carries attribute %s, which the profile does not allow", el.Tag, a.FullKey())
		}
	}
	return nil
}

func algorithmAttr(el *etree.Element) (string, *VerifyError) {
	if err := onlyAttrs(el, "Algorithm"); err != nil {
		return "", err
	}
	a := el.SelectAttr("Algorithm")
	if a == nil || a.Space != "" {
		return "", verifyErrorf(ReasonMalformed, nil, "%s has no Algorithm attribute", el.Tag)
	}
	return a.Value, nil
}

// excC14NPrefixes reads the optional InclusiveNamespaces child of an
// exc-c14n CanonicalizationMethod or Transform.
func excC14NPrefixes(el *etree.Element) ([]string, *VerifyError) {
	var prefixes []string
	seen := false
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Element:
			if seen || t.Tag != "InclusiveNamespaces" || t.NamespaceURI() != namespaceExcC14N {
				return nil, verifyErrorf(ReasonMalformed, nil, "%s holds %s: only one ec:InclusiveNamespaces is allowed", el.Tag, t.Tag)
			}
			seen = true
			if err := onlyAttrs(t, "PrefixList"); err != nil {
				return nil, err
			}
			// Count before keeping: strings.Fields on a megabyte-long
			// list would allocate a slice per token first.
			for p := range strings.FieldsSeq(t.SelectAttrValue("PrefixList", "")) {
				if len(prefixes) == maxInclusivePrefixes {
					return nil, verifyErrorf(ReasonMalformed, nil, "InclusiveNamespaces PrefixList holds more than %d prefixes", maxInclusivePrefixes)
				}
				prefixes = append(prefixes, p)
			}
			if len(t.ChildElements()) > 0 {
				return nil, verifyErrorf(ReasonMalformed, nil, "InclusiveNamespaces has child elements")
			}
		case *etree.CharData:
			if strings.TrimSpace(t.Data) != "" {
				return nil, verifyErrorf(ReasonMalformed, nil, "%s holds text", el.Tag)
			}
		}
	}
	return prefixes, nil
}

// noChildren checks that el is empty apart from whitespace.
func noChildren(el *etree.Element) *VerifyError {
	kids, err := dsigChildren(el)
	if err != nil {
		return err
	}
	if len(kids) > 0 {
		return verifyErrorf(ReasonMalformed, nil, "%s holds %s, which the profile does not allow", el.Tag, kids[0].Tag)
	}
	return nil
}

// base64Text decodes the base64 content of el, ignoring XML whitespace
// (xmlsec1 and Java wrap base64 at 64 or 76 columns).
func base64Text(el *etree.Element, max int) ([]byte, *VerifyError) {
	var s string
	if cd, ok := onlyText(el); ok {
		s = cd // the usual case, without a copy
	} else {
		var sb strings.Builder
		for _, t := range el.Child {
			switch t := t.(type) {
			case *etree.CharData:
				sb.WriteString(t.Data)
			case *etree.Comment:
			default:
				return nil, verifyErrorf(ReasonMalformed, nil, "%s holds markup: it must be base64 text", el.Tag)
			}
		}
		s = sb.String()
	}
	if len(s) > max {
		return nil, verifyErrorf(ReasonMalformed, nil, "%s is longer than %d characters", el.Tag, max)
	}
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Map(func(r rune) rune {
			switch r {
			case ' ', '\t', '\r', '\n':
				return -1
			}
			return r
		}, s)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, verifyErrorf(ReasonMalformed, err, "%s is not valid base64", el.Tag)
	}
	return b, nil
}

// onlyText returns el's text when el holds exactly one character-data
// token.
func onlyText(el *etree.Element) (string, bool) {
	if len(el.Child) != 1 {
		return "", false
	}
	cd, ok := el.Child[0].(*etree.CharData)
	if !ok {
		return "", false
	}
	return cd.Data, true
}

// parseDSig checks a W3C Signature element against the profile and
// returns its parts. allowSHA1 admits rsa-sha1 and sha1 (legacy policy).
//
// Reasons: a Reference to anything but the whole document (URI="") or
// more than one Reference is ReasonWrapped; an algorithm outside the
// allow-list, or transforms other than enveloped-signature followed by
// exc-c14n, is ReasonAlgorithmNotAllowed; any other deviation from the
// shape is ReasonMalformed.
func parseDSig(sig *etree.Element, allowSHA1 bool) (*dsigBlock, *VerifyError) {
	b := &dsigBlock{el: sig}
	if err := onlyAttrs(sig, "Id"); err != nil {
		return nil, err
	}
	kids, verr := dsigChildren(sig)
	if verr != nil {
		return nil, verr
	}
	if err := expect("Signature", kids, "SignedInfo", "SignatureValue", "KeyInfo"); err != nil {
		return nil, err
	}
	b.signedInfo = kids[0]

	// SignedInfo: CanonicalizationMethod, SignatureMethod, one Reference.
	if err := onlyAttrs(b.signedInfo, "Id"); err != nil {
		return nil, err
	}
	si, verr := dsigChildren(b.signedInfo)
	if verr != nil {
		return nil, verr
	}
	if len(si) > 3 && si[2].Tag == "Reference" && si[3].Tag == "Reference" {
		return nil, verifyErrorf(ReasonWrapped, nil, "SignedInfo holds %d References: the profile allows exactly one, to the whole package", len(si)-2)
	}
	if err := expect("SignedInfo", si, "CanonicalizationMethod", "SignatureMethod", "Reference"); err != nil {
		return nil, err
	}
	alg, verr := algorithmAttr(si[0])
	if verr != nil {
		return nil, verr
	}
	if alg != AlgExcC14N {
		return nil, verifyErrorf(ReasonAlgorithmNotAllowed, nil, "CanonicalizationMethod %q: the profile requires exclusive c14n without comments (%s)", alg, AlgExcC14N)
	}
	if b.siPrefixes, verr = excC14NPrefixes(si[0]); verr != nil {
		return nil, verr
	}
	if alg, verr = algorithmAttr(si[1]); verr != nil {
		return nil, verr
	}
	sa, ok := signatureAlgs[alg]
	if !ok || (sa.legacy && !allowSHA1) {
		return nil, verifyErrorf(ReasonAlgorithmNotAllowed, nil, "SignatureMethod %q is not allowed", alg)
	}
	if verr = noChildren(si[1]); verr != nil {
		return nil, verr
	}
	b.sigAlg = sa

	ref := si[2]
	if err := onlyAttrs(ref, "URI", "Id", "Type"); err != nil {
		return nil, err
	}
	if uri := ref.SelectAttr("URI"); uri == nil || uri.Value != "" {
		what := "has no URI"
		if uri != nil {
			what = "points at " + uri.Value
		}
		return nil, verifyErrorf(ReasonWrapped, nil, "the Reference %s: the profile signs the whole package (URI=\"\")", what)
	}
	rk, verr := dsigChildren(ref)
	if verr != nil {
		return nil, verr
	}
	if err := expect("Reference", rk, "Transforms", "DigestMethod", "DigestValue"); err != nil {
		return nil, err
	}
	if err := onlyAttrs(rk[0]); err != nil {
		return nil, err
	}
	tr, verr := dsigChildren(rk[0])
	if verr != nil {
		return nil, verr
	}
	var trAlgs []string
	for _, t := range tr {
		if t.Tag != "Transform" {
			return nil, verifyErrorf(ReasonMalformed, nil, "Transforms holds %s", t.Tag)
		}
		a, verr := algorithmAttr(t)
		if verr != nil {
			return nil, verr
		}
		trAlgs = append(trAlgs, a)
	}
	if len(trAlgs) != 2 || trAlgs[0] != AlgEnvelopedSignature || trAlgs[1] != AlgExcC14N {
		return nil, verifyErrorf(ReasonAlgorithmNotAllowed, nil, "transforms [%s]: the profile requires exactly [enveloped-signature exc-c14n]", strings.Join(trAlgs, " "))
	}
	if verr = noChildren(tr[0]); verr != nil {
		return nil, verr
	}
	if b.refPrefixes, verr = excC14NPrefixes(tr[1]); verr != nil {
		return nil, verr
	}
	if alg, verr = algorithmAttr(rk[1]); verr != nil {
		return nil, verr
	}
	da, ok := digestAlgs[alg]
	if !ok || (da.legacy && !allowSHA1) {
		return nil, verifyErrorf(ReasonAlgorithmNotAllowed, nil, "DigestMethod %q is not allowed", alg)
	}
	if verr = noChildren(rk[1]); verr != nil {
		return nil, verr
	}
	b.digestAlg = da
	if err := onlyAttrs(rk[2]); err != nil {
		return nil, err
	}
	if b.digestValue, verr = base64Text(rk[2], 1024); verr != nil {
		return nil, verr
	}
	if len(b.digestValue) != da.hash.Size() {
		return nil, verifyErrorf(ReasonMalformed, nil, "DigestValue is %d bytes, %s digests are %d", len(b.digestValue), alg, da.hash.Size())
	}

	// SignatureValue.
	if err := onlyAttrs(kids[1], "Id"); err != nil {
		return nil, err
	}
	if b.signature, verr = base64Text(kids[1], 4096); verr != nil {
		return nil, verr
	}

	// KeyInfo: X509Data with the certificates; KeyName and KeyValue are
	// tolerated and ignored (the key is always the verified certificate's).
	if err := onlyAttrs(kids[2], "Id"); err != nil {
		return nil, err
	}
	ki, verr := dsigChildren(kids[2])
	if verr != nil {
		return nil, verr
	}
	for _, k := range ki {
		switch k.Tag {
		case "KeyName", "KeyValue":
			continue
		case "X509Data":
		default:
			return nil, verifyErrorf(ReasonMalformed, nil, "KeyInfo holds %s, which the profile does not allow", k.Tag)
		}
		xd, verr := dsigChildren(k)
		if verr != nil {
			return nil, verr
		}
		for _, x := range xd {
			switch x.Tag {
			case "X509Certificate":
				if len(b.certificates) == maxKeyInfoCerts {
					return nil, verifyErrorf(ReasonMalformed, nil, "KeyInfo carries more than %d certificates", maxKeyInfoCerts)
				}
				der, verr := base64Text(x, maxCertBase64Size)
				if verr != nil {
					return nil, verr
				}
				b.certificates = append(b.certificates, der)
			case "X509SubjectName", "X509IssuerSerial", "X509SKI", "X509CRL", "X509Digest":
				// Descriptive only: we identify the signer by the
				// certificate that verifies.
			default:
				return nil, verifyErrorf(ReasonMalformed, nil, "X509Data holds %s, which the profile does not allow", x.Tag)
			}
		}
	}
	if len(b.certificates) == 0 {
		return nil, verifyErrorf(ReasonMalformed, nil, "KeyInfo carries no X509Certificate: the profile requires the signer's certificate")
	}
	return b, nil
}

// newDSigTemplate builds an unsigned Signature block of the profile: ds
// prefix, exc-c14n, one Reference URI="" with enveloped-signature then
// exc-c14n, empty DigestValue and SignatureValue, and KeyInfo/X509Data
// with the certificates (base64 DER) in the given order.
func newDSigTemplate(sa sigAlg, da digestAlg, certsB64 []string) dsigTemplate {
	sig := etree.NewElement("ds:Signature")
	sig.CreateAttr("xmlns:ds", NamespaceDSig)
	si := sig.CreateElement("ds:SignedInfo")
	si.CreateElement("ds:CanonicalizationMethod").CreateAttr("Algorithm", AlgExcC14N)
	si.CreateElement("ds:SignatureMethod").CreateAttr("Algorithm", sa.uri)
	ref := si.CreateElement("ds:Reference")
	ref.CreateAttr("URI", "")
	tr := ref.CreateElement("ds:Transforms")
	tr.CreateElement("ds:Transform").CreateAttr("Algorithm", AlgEnvelopedSignature)
	tr.CreateElement("ds:Transform").CreateAttr("Algorithm", AlgExcC14N)
	ref.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", da.uri)
	digestValue := ref.CreateElement("ds:DigestValue")
	signatureValue := sig.CreateElement("ds:SignatureValue")
	xd := sig.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data")
	for _, c := range certsB64 {
		xd.CreateElement("ds:X509Certificate").SetText(c)
	}
	return dsigTemplate{sig, si, digestValue, signatureValue}
}

// dsigTemplate is an unsigned Signature block and the elements to fill.
type dsigTemplate struct {
	signature, signedInfo, digestValue, signatureValue *etree.Element
}
