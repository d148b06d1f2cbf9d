// Package signing signs and verifies edXML packages (QCVN 102:2016) with
// enveloped XML-DSig, as a government PKI requires, and resists the
// attacks that break naive XML-DSig.
//
// # Profile
//
// A signature is a W3C XML-DSig Signature element, the last child element
// of edXML/edXMLEnvelope/edXMLHeader, with:
//
//   - CanonicalizationMethod exclusive c14n without comments
//     (http://www.w3.org/2001/10/xml-exc-c14n#);
//   - SignatureMethod rsa-sha256 (RSA 2048–4096 bits) or ecdsa-sha256/384/512
//     (P-256/P-384/P-521) with the r‖s SignatureValue of XML-DSig 1.1;
//   - exactly one Reference, URI="", so the whole package including the
//     attachments is signed, with the transforms enveloped-signature then
//     exc-c14n, and a SHA-256/384/512 digest;
//   - KeyInfo/X509Data with the signer's certificate, then its
//     intermediates.
//
// The transforms are exactly those two, in that order: the enveloped
// transform is what lets a signature inside the document sign the
// document, and naming exc-c14n explicitly is what xmlsec1 and the Java and
// .NET stacks write, so both directions interoperate.
//
// Signer.Sign produces that. Verifier.Verify accepts that and nothing
// looser, with these tolerances for other producers: any prefix (or the
// default namespace) for the Signature elements; rsa-sha384/512 and the
// other ECDSA hashes; an InclusiveNamespaces PrefixList on SignedInfo or
// the transform (honoured; at most 32 prefixes); KeyInfo certificates in
// any order (the signer is the first non-CA one), with KeyName, KeyValue
// and descriptive X509Data children ignored; and, under Policy.AllowSHA1
// only, rsa-sha1 and sha1 for legacy counterparts. Signer never produces SHA-1.
//
// # What verification guarantees
//
// A nil error from Verify means: the package holds exactly one W3C
// Signature, at the profile place, in the profile's shape; the signer's
// certificate chains to a configured root at the verification time through
// configured or KeyInfo intermediates; the leaf may sign documents (it is
// not a CA certificate, its KeyUsage extension is present and allows
// digitalSignature or contentCommitment, and if it has extended key
// usages, they include documentSigning (RFC 9336), emailProtection or
// any; every CA in the chain that has a KeyUsage extension allows
// keyCertSign, and every one that has extended key usages includes one of
// those three);
// every non-root certificate is absent from its issuer's CRL as of that
// time, the CRL being fresh (ThisUpdate ≤ at ≤ NextUpdate + grace); the
// signature over SignedInfo verifies; and the digest of the package minus
// the signature matches. Result.Element is then the digested content and
// the only thing business code may read.
//
// Every failure is a *VerifyError with a stable Reason. A package whose
// only signature is the QCVN-namespace block that the existing axis and
// the official SDK write (rsa-sha1, non-standard transform URI, often a
// placeholder) fails with ReasonLegacySignature: such blocks are
// recognised, never verified. Signer.Sign replaces that block with a
// profile signature.
//
// # Pitfalls handled
//
// The package does not use goxmldsig's Sign or Validate. It has its own
// exclusive canonicaliser (cross-checked with xmlsec1) and reads the
// Signature block strictly, which avoids each of the eight pitfalls of the
// project's signing-stack note §1.4: no chain/EKU/revocation checks (done
// here, with a per-leaf chain cache); ECDSA DER signature values (r‖s
// here); the ~1000-element traversal budget (none here); mutation of the
// caller's tree (Sign takes bytes); canonicalisation without the
// ancestors' namespace context (SignedInfo is canonicalised in context);
// the unemitted InclusiveNamespaces (never emitted, honoured when read);
// silent SHA-1 (allow-list); and ignored extra References (exactly one).
//
// # Caveats
//
//   - Comments are outside exc-c14n, so they are not signed. A comment in an
//     element that also holds text (the comment-injection shape
//     "000.00.00.G22<!---->.X") is refused by Sign and fails Verify with
//     ReasonMalformed, because readers of the forwarded bytes that take
//     the first text node would see a different value than was signed.
//     Comments between elements are allowed and removed from
//     Result.Element.
//   - Processing instructions outside the root element fail with
//     ReasonMalformed (edoc.ReadTree would drop them, but with URI="" other
//     verifiers digest them).
//   - Attribute values: encoding/xml does not normalise literal TAB, CR and
//     LF in attribute values to spaces as XML 1.0 requires, so edoc.ReadTree
//     refuses them and such a package fails with ReasonMalformed (fail
//     closed; otherwise "&#x9;" in a signed package could be replaced by a
//     literal TAB and still verify here while other parsers read a space).
//     Sign writes them as character references, which every parser reads
//     the same way.
//   - Names: edoc.ReadTree and etree turn an element or attribute name with a
//     leading colon (":b", not a namespace-well-formed name) into "b", so
//     such a name written in place of "b" after signing goes unnoticed here
//     (other verifiers reject it); edoc.ReadTree is where that must be
//     refused. Other names that are not QNames fail with ReasonMalformed.
//   - Exclusive c14n does not sign namespace declarations that no element
//     or attribute name uses (a prefix used only inside a QName value such
//     as xsi:type="m:T"). Result.Element drops such declarations, as the
//     canonical bytes do.
//   - There is no trusted signing time in plain XML-DSig: Verify checks the
//     chain and revocation at the time it is given. Verify at receipt and
//     keep Result.Evidence; re-verifying an archive after the certificate
//     expired fails with ReasonExpired.
//   - Verify does not check that the signer may speak for the sender
//     OrganId (Bindings does), nor anything in the business content.
//   - Revocation uses CRLs only (no OCSP), one CRL per CA, no delta or
//     partitioned CRLs.
package signing
