// Package signingtest helps tests of edXML signing: a throw-away PKI with a
// fixed clock (NewPKI: root → intermediate → leaf, CRLs, all relative to
// Epoch), synthetic edXML packages of a chosen size or element count
// (Package), PEM writers for external tools, and RequireTool, which finds
// a tool such as xmlsec1 or softhsm2-util or skips the test (fails it
// under TRUC_REQUIRE_INTEROP=1).
//
// It depends on the standard library only (not on package signing), so
// signing's own tests can use it.
//
// # Caveats
//
// Keys and certificates are for tests: keys are generated fresh (no HSM),
// and the PKI is whatever the test asks for, including broken
// certificates.
package signingtest
