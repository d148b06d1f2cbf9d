package kafka_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"truc.vn/truc/adapters/kafka"
	"truc.vn/truc/adapters/kafka/embedded"
	"truc.vn/truc/bus"
)

// testPKI is a CA with a broker certificate for 127.0.0.1 and localhost
// and a client certificate, generated per test.
type testPKI struct {
	caFile           string
	server           tls.Certificate
	pool             *x509.CertPool
	clientCert       string
	clientKey        string
	otherCAFile      string // a CA that signed nothing here
	otherCertFile    string // a client certificate from the other CA
	otherCertKeyFile string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	ca, caKey := makeCert(t, nil, nil, &x509.Certificate{
		Subject: pkix.Name{CommonName: "truc test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
	})
	srv, srvKey := makeCert(t, ca, caKey, &x509.Certificate{
		Subject: pkix.Name{CommonName: "broker"}, DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
	})
	cli, cliKey := makeCert(t, ca, caKey, &x509.Certificate{
		Subject: pkix.Name{CommonName: "edge-hanoi"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
	})
	other, otherKey := makeCert(t, nil, nil, &x509.Certificate{
		Subject: pkix.Name{CommonName: "other CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
	})
	stranger, strangerKey := makeCert(t, other, otherKey, &x509.Certificate{
		Subject: pkix.Name{CommonName: "stranger"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
	})
	p := &testPKI{
		caFile:           writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Raw),
		clientCert:       writePEM(t, dir, "client.pem", "CERTIFICATE", cli.Raw),
		clientKey:        writeKey(t, dir, "client.key", cliKey),
		otherCAFile:      writePEM(t, dir, "other-ca.pem", "CERTIFICATE", other.Raw),
		otherCertFile:    writePEM(t, dir, "stranger.pem", "CERTIFICATE", stranger.Raw),
		otherCertKeyFile: writeKey(t, dir, "stranger.key", strangerKey),
		server:           tls.Certificate{Certificate: [][]byte{srv.Raw}, PrivateKey: srvKey},
		pool:             x509.NewCertPool(),
	}
	p.pool.AddCert(ca)
	return p
}

func makeCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = serial
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKey(t *testing.T, dir, name string, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name, "PRIVATE KEY", der)
}

func TestTLS(t *testing.T) {
	pki := newTestPKI(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.VerifyClientCertIfGiven}
	addrs := startBroker(t, embedded.Config{TLS: serverTLS, Users: []embedded.User{{Mechanism: "PLAIN", Name: "axis", Password: "plain-secret"}}})
	mtlsAddrs := startBroker(t, embedded.Config{TLS: &tls.Config{
		Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.RequireAndVerifyClientCert,
	}})
	withTLS := func(addrs []string, edit func(*kafka.Config)) *kafka.Transport {
		cfg := testConfig(addrs)
		cfg.TLS = kafka.TLSConfig{Enabled: true, CAFile: pki.caFile}
		cfg.DialTimeout = 2 * time.Second
		edit(&cfg)
		return newTransport(t, cfg)
	}
	plainSASL := func(c *kafka.Config) {
		c.SASL = kafka.SASLConfig{Mechanism: kafka.SASLPlain, Username: "axis", Password: "plain-secret"}
	}
	admin := withTLS(addrs, plainSASL)
	if err := admin.EnsureTopicSpecs(ctxT(t), kafka.TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	madmin := withTLS(mtlsAddrs, func(c *kafka.Config) { c.TLS.CertFile, c.TLS.KeyFile = pki.clientCert, pki.clientKey })
	if err := madmin.EnsureTopicSpecs(ctxT(t), kafka.TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}

	t.Run("SASL PLAIN over TLS with the CA file", func(t *testing.T) {
		if err := roundTrip(t, admin, "t"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("client certificate (mTLS)", func(t *testing.T) {
		if err := roundTrip(t, madmin, "t"); err != nil {
			t.Fatal(err)
		}
	})
	refused := []struct {
		name  string
		addrs []string
		edit  func(*kafka.Config)
	}{
		{"broker certificate from an untrusted CA", addrs, func(c *kafka.Config) { plainSASL(c); c.TLS.CAFile = pki.otherCAFile }},
		{"broker name not in its certificate", addrs, func(c *kafka.Config) { plainSASL(c); c.TLS.ServerName = "axis.example" }},
		{"no client certificate where one is required", mtlsAddrs, func(*kafka.Config) {}},
		{"client certificate from an untrusted CA", mtlsAddrs, func(c *kafka.Config) {
			c.TLS.CertFile, c.TLS.KeyFile = pki.otherCertFile, pki.otherCertKeyFile
		}},
		{"plaintext client", addrs, func(c *kafka.Config) { c.TLS = kafka.TLSConfig{} }},
		{"wrong PLAIN password", addrs, func(c *kafka.Config) { plainSASL(c); c.SASL.Password = "wrong" }},
	}
	for _, tt := range refused {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(tt.addrs)
			cfg.TLS = kafka.TLSConfig{Enabled: true, CAFile: pki.caFile}
			cfg.DialTimeout = 2 * time.Second
			tt.edit(&cfg)
			tr := newTransport(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := tr.Publish(ctx, "t", message(t, "x", []byte("x"))); err == nil {
				t.Error("Publish succeeded")
			}
			if err := tr.Ping(ctx); err == nil {
				t.Error("Ping succeeded")
			}
		})
	}
	t.Run("Consume gives up on an untrusted broker certificate", func(t *testing.T) {
		cfg := testConfig(addrs)
		cfg.TLS = kafka.TLSConfig{Enabled: true, CAFile: pki.otherCAFile}
		plainSASL(&cfg)
		tr := newTransport(t, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := tr.Consume(ctx, "t", "g", noop)
		if err == nil || ctx.Err() != nil {
			t.Fatalf("Consume returned %v (ctx %v); want an error before the deadline", err, ctx.Err())
		}
	})
}

func noop(context.Context, bus.Delivery) error { return nil }

func TestSASLSCRAM(t *testing.T) {
	addrs := startBroker(t, embedded.Config{Users: []embedded.User{
		{Mechanism: "SCRAM-SHA-256", Name: "edge-hanoi", Password: "s3cret-256"},
		{Mechanism: "SCRAM-SHA-512", Name: "axis", Password: "s3cret-512"},
	}})
	with := func(mech, user, pass string) *kafka.Transport {
		cfg := testConfig(addrs)
		cfg.DialTimeout = 2 * time.Second
		cfg.SASL = kafka.SASLConfig{Mechanism: mech, Username: user, Password: pass}
		return newTransport(t, cfg)
	}
	axis := with(kafka.SASLScramSHA512, "axis", "s3cret-512")
	if err := axis.EnsureTopicSpecs(ctxT(t), kafka.TopicSpec{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(t, axis, "t"); err != nil {
		t.Fatalf("SCRAM-SHA-512: %v", err)
	}
	if err := roundTrip(t, with(kafka.SASLScramSHA256, "edge-hanoi", "s3cret-256"), "t"); err != nil {
		t.Fatalf("SCRAM-SHA-256: %v", err)
	}
	for _, bad := range []struct{ name, mech, user, pass string }{
		{"wrong password", kafka.SASLScramSHA256, "edge-hanoi", "guess"},
		{"unknown user", kafka.SASLScramSHA512, "mallory", "s3cret-512"},
		{"right password, other mechanism", kafka.SASLScramSHA512, "edge-hanoi", "s3cret-256"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			tr := with(bad.mech, bad.user, bad.pass)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := tr.Publish(ctx, "t", message(t, "x", []byte("x"))); err == nil {
				t.Error("Publish succeeded")
			}
			if err := tr.Consume(ctx, "t", "g", noop); err == nil || ctx.Err() != nil {
				t.Errorf("Consume returned %v (ctx %v); want an authentication error before the deadline", err, ctx.Err())
			}
		})
	}
	t.Run("no SASL against a SASL broker", func(t *testing.T) {
		cfg := testConfig(addrs)
		cfg.DialTimeout = 2 * time.Second
		tr := newTransport(t, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tr.Publish(ctx, "t", message(t, "x", []byte("x"))); err == nil {
			t.Error("Publish succeeded")
		}
	})
}
