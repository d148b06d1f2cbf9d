package restapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
)

// testCA is a CA generated for one test, with a fixed clock.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var testNow = time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

// issue returns a leaf certificate for name (a server's when dns is set,
// a client's otherwise).
func (ca *testCA) issue(t *testing.T, name string, serial int64, dns ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(dns) > 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = dns
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsWorld is an API served over TLS with client certificates from
// dmsCA: hanoi-dms's token bound to certA, bnv-dms's not bound.
type tlsWorld struct {
	url          string
	serverCA     *x509.CertPool
	certA, certB tls.Certificate // both from dmsCA
	certOther    tls.Certificate // from another CA
}

func newTLSWorld(t *testing.T, require bool) *tlsWorld {
	t.Helper()
	dir := t.TempDir()
	serverCA, dmsCA, otherCA := newTestCA(t, "edge CA"), newTestCA(t, "DMS CA"), newTestCA(t, "other CA")
	srvCert := serverCA.issue(t, "edge", 2, "localhost")
	writePEM(t, filepath.Join(dir, "api.crt"), "CERTIFICATE", srvCert.Certificate[0])
	keyDER, _ := x509.MarshalPKCS8PrivateKey(srvCert.PrivateKey)
	writePEM(t, filepath.Join(dir, "api.key"), "PRIVATE KEY", keyDER)
	writePEM(t, filepath.Join(dir, "dms-ca.crt"), "CERTIFICATE", dmsCA.cert.Raw)
	w := &tlsWorld{certA: dmsCA.issue(t, "hanoi-dms", 3), certB: dmsCA.issue(t, "intruder", 4), certOther: otherCA.issue(t, "hanoi-dms", 3)}

	cfg := testConfig()
	cfg.TLS = &restapi.TLSConfig{
		CertFile: filepath.Join(dir, "api.crt"), KeyFile: filepath.Join(dir, "api.key"),
		ClientCAFile: filepath.Join(dir, "dms-ca.crt"), RequireClientCert: require,
	}
	cfg.Tokens[0].ClientCertSHA256 = restapi.CertificateSHA256(w.certA.Leaf)
	h, err := restapi.New(cfg, restapitest.NewMemory(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := cfg.TLS.Load()
	if err != nil {
		t.Fatal(err)
	}
	tc.Time = func() time.Time { return testNow }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := h.TLSServer(tc)
	srv.ErrorLog = nil
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	w.url = "https://" + ln.Addr().String()
	w.serverCA = x509.NewCertPool()
	w.serverCA.AddCert(serverCA.cert)
	return w
}

// get calls GET /v1/inbox with token over TLS, presenting cert when set.
func (w *tlsWorld) get(token string, cert *tls.Certificate) (int, string, error) {
	tc := &tls.Config{RootCAs: w.serverCA, ServerName: "localhost", Time: func() time.Time { return testNow }}
	if cert != nil {
		// Presented whatever CAs the server names, as a hostile client
		// would.
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", w.url+"/v1/inbox", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var p restapi.Problem
	json.Unmarshal(b, &p)
	return resp.StatusCode, p.Reason, nil
}

func TestMutualTLS(t *testing.T) {
	w := newTLSWorld(t, false)
	tests := []struct {
		name      string
		token     string
		cert      *tls.Certificate
		status    int
		reason    string
		handshake bool // the TLS handshake fails
	}{
		{"bound token with its certificate", tokHanoi, &w.certA, 200, "", false},
		{"bound token with another certificate of the CA", tokHanoi, &w.certB, 401, restapi.ReasonClientCert, false},
		{"bound token without a certificate", tokHanoi, nil, 401, restapi.ReasonClientCert, false},
		{"bound token with a look-alike from another CA", tokHanoi, &w.certOther, 0, "", true},
		{"unbound token without a certificate", tokBNV, nil, 200, "", false},
		{"unbound token with a certificate", tokBNV, &w.certB, 200, "", false},
		{"wrong token with the right certificate", "nope-0123456789", &w.certA, 401, restapi.ReasonInvalidToken, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, reason, err := w.get(tt.token, tt.cert)
			if tt.handshake {
				if err == nil {
					t.Fatalf("connected: %d %s", status, reason)
				}
				return
			}
			if err != nil || status != tt.status || reason != tt.reason {
				t.Fatalf("%d %q %v, want %d %q", status, reason, err, tt.status, tt.reason)
			}
		})
	}

	t.Run("bound token over plain HTTP", func(t *testing.T) {
		cfg := testConfig()
		cfg.TLS = &restapi.TLSConfig{CertFile: "x", KeyFile: "y", ClientCAFile: "z"}
		cfg.Tokens[0].ClientCertSHA256 = restapi.CertificateSHA256(w.certA.Leaf)
		e := newEnvConfig(t, cfg)
		wantProblem(t, e.get("/v1/inbox", tokHanoi), 401, restapi.ReasonClientCert, "Authorization")
		if r := e.get("/v1/inbox", tokBNV); r.Code != 200 {
			t.Fatalf("unbound token: %d", r.Code)
		}
	})
}

func TestMutualTLSRequired(t *testing.T) {
	w := newTLSWorld(t, true)
	if _, _, err := w.get(tokBNV, nil); err == nil {
		t.Fatal("connected without a client certificate")
	}
	if status, _, err := w.get(tokBNV, &w.certB); err != nil || status != 200 {
		t.Fatalf("with a certificate: %d %v", status, err)
	}
}

func TestTLSLoad(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "CA")
	cert := ca.issue(t, "edge", 2, "localhost")
	crt, key, caf := filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key"), filepath.Join(dir, "ca.crt")
	writePEM(t, crt, "CERTIFICATE", cert.Certificate[0])
	der, _ := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	writePEM(t, key, "PRIVATE KEY", der)
	writePEM(t, caf, "CERTIFICATE", ca.cert.Raw)
	notPEM := filepath.Join(dir, "junk")
	os.WriteFile(notPEM, []byte("junk"), 0o600)

	tests := []struct {
		name  string
		cfg   restapi.TLSConfig
		field string
		auth  tls.ClientAuthType
	}{
		{"server only", restapi.TLSConfig{CertFile: crt, KeyFile: key}, "", tls.NoClientCert},
		{"client certificates optional", restapi.TLSConfig{CertFile: crt, KeyFile: key, ClientCAFile: caf}, "", tls.VerifyClientCertIfGiven},
		{"client certificates required", restapi.TLSConfig{CertFile: crt, KeyFile: key, ClientCAFile: caf, RequireClientCert: true}, "", tls.RequireAndVerifyClientCert},
		{"missing key file", restapi.TLSConfig{CertFile: crt, KeyFile: filepath.Join(dir, "none")}, "tls.cert_file", 0},
		{"key of another certificate", restapi.TLSConfig{CertFile: crt, KeyFile: caf}, "tls.cert_file", 0},
		{"CA file missing", restapi.TLSConfig{CertFile: crt, KeyFile: key, ClientCAFile: filepath.Join(dir, "none")}, "tls.client_ca_file", 0},
		{"CA file without PEM", restapi.TLSConfig{CertFile: crt, KeyFile: key, ClientCAFile: notPEM}, "tls.client_ca_file", 0},
		{"required without CAs", restapi.TLSConfig{CertFile: crt, KeyFile: key, RequireClientCert: true}, "tls.require_client_cert", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := tt.cfg.Load()
			if tt.field != "" {
				var ce *restapi.ConfigError
				if !errors.As(err, &ce) || ce.Field != tt.field {
					t.Fatalf("err = %v, want a ConfigError on %s", err, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.ClientAuth != tt.auth || tc.MinVersion != tls.VersionTLS12 {
				t.Fatalf("ClientAuth %v MinVersion %x", tc.ClientAuth, tc.MinVersion)
			}
		})
	}
	if fp := restapi.CertificateSHA256(cert.Leaf); len(fp) != 64 || strings.ToLower(fp) != fp {
		t.Fatalf("fingerprint %q", fp)
	}
}
