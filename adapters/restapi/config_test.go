package restapi_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"truc.vn/truc/adapters/restapi"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*restapi.Config)
		field  string // "" = valid
	}{
		{"valid", func(*restapi.Config) {}, ""},
		{"listen on every interface", func(c *restapi.Config) { c.Listen = ":8443" }, ""},
		{"listen without port", func(c *restapi.Config) { c.Listen = "127.0.0.1" }, "listen"},
		{"listen with a bad port", func(c *restapi.Config) { c.Listen = "127.0.0.1:http" }, "listen"},
		{"listen port too large", func(c *restapi.Config) { c.Listen = "127.0.0.1:65536" }, "listen"},
		{"no tokens", func(c *restapi.Config) { c.Tokens = nil }, "tokens"},
		{"empty name", func(c *restapi.Config) { c.Tokens[0].Name = "" }, "tokens[0].name"},
		{"name with a space", func(c *restapi.Config) { c.Tokens[0].Name = "hanoi dms" }, "tokens[0].name"},
		{"name too long", func(c *restapi.Config) { c.Tokens[0].Name = strings.Repeat("n", 65) }, "tokens[0].name"},
		{"duplicate name", func(c *restapi.Config) { c.Tokens[1].Name = c.Tokens[0].Name }, "tokens[1].name"},
		{"no hash", func(c *restapi.Config) { c.Tokens[0].SHA256 = "" }, "tokens[0].sha256"},
		{"the token instead of its hash", func(c *restapi.Config) { c.Tokens[0].SHA256 = tokHanoi }, "tokens[0].sha256"},
		{"hash not hex", func(c *restapi.Config) { c.Tokens[0].SHA256 = strings.Repeat("g", 64) }, "tokens[0].sha256"},
		{"hash in upper case", func(c *restapi.Config) { c.Tokens[0].SHA256 = strings.ToUpper(c.Tokens[0].SHA256) }, ""},
		{"same token twice", func(c *restapi.Config) { c.Tokens[1].SHA256 = strings.ToUpper(c.Tokens[0].SHA256) }, "tokens[1].sha256"},
		{"no OrganIds", func(c *restapi.Config) { c.Tokens[1].OrganIDs = nil }, "tokens[1].organ_ids"},
		{"bad OrganId", func(c *restapi.Config) { c.Tokens[0].OrganIDs[1] = "000..H26" }, "tokens[0].organ_ids[1]"},
		{"OrganId twice", func(c *restapi.Config) { c.Tokens[0].OrganIDs[1] = c.Tokens[0].OrganIDs[0] }, "tokens[0].organ_ids[1]"},
		{"body cap too small", func(c *restapi.Config) { c.MaxBodyBytes = 1024 }, "max_body_bytes"},
		{"body cap too large", func(c *restapi.Config) { c.MaxBodyBytes = 2 << 30 }, "max_body_bytes"},
		{"negative body cap", func(c *restapi.Config) { c.MaxBodyBytes = -1 }, "max_body_bytes"},
		{"wait too short", func(c *restapi.Config) { c.MaxWait = time.Millisecond }, "max_wait"},
		{"wait too long", func(c *restapi.Config) { c.MaxWait = time.Hour }, "max_wait"},
		{"tls", func(c *restapi.Config) { c.TLS = &restapi.TLSConfig{CertFile: "c.pem", KeyFile: "k.pem"} }, ""},
		{"tls without a certificate", func(c *restapi.Config) { c.TLS = &restapi.TLSConfig{KeyFile: "k.pem"} }, "tls.cert_file"},
		{"tls without a key", func(c *restapi.Config) { c.TLS = &restapi.TLSConfig{CertFile: "c.pem"} }, "tls.key_file"},
		{"client certificates required without CAs", func(c *restapi.Config) {
			c.TLS = &restapi.TLSConfig{CertFile: "c.pem", KeyFile: "k.pem", RequireClientCert: true}
		}, "tls.require_client_cert"},
		{"token bound without client CAs", func(c *restapi.Config) {
			c.TLS = &restapi.TLSConfig{CertFile: "c.pem", KeyFile: "k.pem"}
			c.Tokens[0].ClientCertSHA256 = strings.Repeat("ab", 32)
		}, "tokens[0].client_cert_sha256"},
		{"token bound without tls", func(c *restapi.Config) { c.Tokens[0].ClientCertSHA256 = strings.Repeat("ab", 32) }, "tokens[0].client_cert_sha256"},
		{"token bound", func(c *restapi.Config) {
			c.TLS = &restapi.TLSConfig{CertFile: "c.pem", KeyFile: "k.pem", ClientCAFile: "ca.pem"}
			c.Tokens[1].ClientCertSHA256 = strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
		}, ""},
		{"bound to a short fingerprint", func(c *restapi.Config) {
			c.TLS = &restapi.TLSConfig{CertFile: "c.pem", KeyFile: "k.pem", ClientCAFile: "ca.pem"}
			c.Tokens[1].ClientCertSHA256 = "abcd"
		}, "tokens[1].client_cert_sha256"},
		{"bound to a fingerprint not hex", func(c *restapi.Config) {
			c.TLS = &restapi.TLSConfig{CertFile: "c.pem", KeyFile: "k.pem", ClientCAFile: "ca.pem"}
			c.Tokens[1].ClientCertSHA256 = strings.Repeat("zz", 32)
		}, "tokens[1].client_cert_sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *restapi.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("err = %v, want a ConfigError on %s", err, tt.field)
			}
			if strings.Contains(err.Error(), tokHanoi) {
				t.Fatalf("the error shows the token: %v", err)
			}
		})
	}
}

func TestHashToken(t *testing.T) {
	// sha256("test"), as sha256sum prints it.
	if got := restapi.HashToken("test"); got != "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" {
		t.Fatal(got)
	}
}

// TestConfigFile parses the example configuration strictly (unknown keys
// fail) and checks that it validates and states the defaults.
func TestConfigFile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var c restapi.Config
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("config.yaml does not validate: %v", err)
	}
	if c.Listen != restapi.DefaultListen || c.MaxBodyBytes != restapi.DefaultMaxBodyBytes || c.MaxWait != restapi.DefaultMaxWait {
		t.Errorf("config.yaml disagrees with the defaults: %+v", c)
	}
	if len(c.Tokens) != 2 || c.Tokens[0].OrganIDs[1] != "000.01.00.H26" || c.Tokens[1].OrganIDs[0] != "000.00.00.G09" {
		t.Errorf("tokens: %+v", c.Tokens)
	}
	if c.TLS == nil || c.TLS.ClientCAFile == "" || c.TLS.RequireClientCert || c.Tokens[1].ClientCertSHA256 == "" {
		t.Errorf("tls: %+v, bnv-dms bound to %q", c.TLS, c.Tokens[1].ClientCertSHA256)
	}
}
