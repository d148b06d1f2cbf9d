// Package demopki creates and runs a demonstration PKI shaped like the
// Vietnamese government one (Ban Cơ yếu Chính phủ): a root CA
// "RootCA chuyên dùng Chính phủ (DEMO)" (RSA-4096), an issuing CA
// "CA phục vụ các cơ quan Nhà nước (DEMO)" (RSA-3072, path length 0) and
// the end-entity certificates agencies sign with: organisation (agency
// seal) and person certificates. It is what `truc pki`, `truc dev` and the
// tests use, and what a pilot can start from before real VGCA
// certificates are issued.
//
// # What it guarantees
//
//   - All state lives in files in one directory (see the *File constants):
//     certificates as PEM, private keys as PKCS#8 PEM with mode 0600 in a
//     0700 directory, optional .p12 files (mode 0600), CRLs as DER, a
//     ca.json with the settings and CRL numbers, and index.json listing
//     every issued certificate and its revocation.
//   - Serial numbers are 128 random bits; CRL numbers only grow.
//   - Files that hold keys or certificates are created once and never
//     overwritten; index.json and ca.json are replaced atomically
//     (write, fsync, rename).
//   - The clock is injected (InitOptions.Now, OpenOptions.Now), so tests
//     get reproducible validity periods.
//
// # Certificate profile
//
// Subjects follow the government convention: an agency seal is
// CN=<agency name>, O=<parent body>, L=<province>, C=VN; a person is
// CN=<full name>, OU=<unit>, O=<agency>, L=<province>, C=VN and, when an
// address is given, E=<email> with the same address as an rfc822Name SAN.
// Leaves carry KeyUsage digitalSignature + contentCommitment (critical)
// and ExtKeyUsage id-kp-documentSigning (1.3.6.1.5.5.7.3.36, RFC 9336).
// Person certificates with an e-mail address also carry emailProtection,
// because government personal tokens sign e-mail as well as documents;
// agency seals do not, since a seal signs documents only. CAs carry
// keyCertSign + cRLSign. Every certificate below the root names a CRL
// distribution point under InitOptions.CRLBaseURL (root-ca.crl for the
// issuing CA, issuing-ca.crl for leaves).
//
// # Caveats
//
// This is a demo CA: its private keys are plain files on disk, not in an
// HSM. It serialises its own methods, but two processes must not change
// the same directory at once (there is no cross-process lock). It
// revokes leaves only, not the issuing CA, and has no OCSP responder nor
// certificate-hold (un-revocation). RSA-4096 and RSA-3072 key generation
// takes seconds; InitOptions can choose smaller or ECDSA CA keys for tests
// that are not about key size.
package demopki
