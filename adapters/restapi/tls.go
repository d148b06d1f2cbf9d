package restapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
)

// Load reads the files of c and returns the server's TLS configuration:
// TLS 1.2 or later, the certificate chain of CertFile with KeyFile, and,
// when ClientCAFile is set, client certificates verified against its CAs
// (required during the handshake when RequireClientCert, verified when
// given otherwise). It is the one function of the package that reads
// files, and only those c names; errors name the YAML key.
//
// Serve the handler through it with tls.NewListener(ln, cfg) or
// http.Server.TLSConfig (ServeTLS(ln, "", "")): the handler reads the
// verified client certificate from http.Request.TLS. Files are read once:
// restart to rotate them.
func (c *TLSConfig) Load() (*tls.Config, error) {
	if c.CertFile == "" || c.KeyFile == "" {
		return nil, cfgErr("tls.cert_file", "tls.cert_file and tls.key_file are both required")
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, cfgErr("tls.cert_file", "loading the certificate and key: %v", err)
	}
	tc := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if c.ClientCAFile == "" {
		if c.RequireClientCert {
			return nil, cfgErr("tls.require_client_cert", "needs tls.client_ca_file")
		}
		return tc, nil
	}
	pem, err := os.ReadFile(c.ClientCAFile)
	if err != nil {
		return nil, cfgErr("tls.client_ca_file", "%v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, cfgErr("tls.client_ca_file", "no PEM certificate in %s", c.ClientCAFile)
	}
	tc.ClientCAs = pool
	tc.ClientAuth = tls.VerifyClientCertIfGiven
	if c.RequireClientCert {
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// TLSServer is Server with TLS configuration tc (TLSConfig.Load): serve
// it with srv.ServeTLS(ln, "", "") or srv.ListenAndServeTLS("", "").
func (h *Handler) TLSServer(tc *tls.Config) *http.Server {
	srv := h.Server()
	srv.TLSConfig = tc
	return srv
}

// CertificateSHA256 returns the fingerprint a Token.ClientCertSHA256
// binds to: the hex SHA-256 of the certificate's DER bytes.
func CertificateSHA256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hexSHA(sum)
}

// clientCertMatches reports whether the request came over TLS with a
// verified client certificate whose fingerprint is fp. Only a certificate
// that chained to the configured client CAs counts (VerifiedChains), never
// one merely presented.
func clientCertMatches(r *http.Request, fp [sha256.Size]byte) (bool, string) {
	switch {
	case r.TLS == nil:
		return false, "this token is bound to a client certificate: connect with TLS and present it"
	case len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0:
		return false, "this token is bound to a client certificate: present it"
	}
	sum := sha256.Sum256(r.TLS.VerifiedChains[0][0].Raw)
	if subtle.ConstantTimeCompare(sum[:], fp[:]) != 1 {
		return false, fmt.Sprintf("this token is bound to another client certificate than the one presented (SHA-256 %x)", sum)
	}
	return true, ""
}
