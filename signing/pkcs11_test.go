package signing_test

import (
	"bytes"
	"strings"
	"testing"

	"truc.vn/truc/signing"
)

func TestParsePKCS11URI(t *testing.T) {
	tests := []struct {
		name    string
		uri     string
		want    signing.PKCS11Config
		wantErr string
	}{
		{
			name: "token, object, type and module",
			uri:  "pkcs11:token=agency-token;object=agency-seal;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so",
			want: signing.PKCS11Config{Module: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "agency-token", KeyLabel: "agency-seal"},
		},
		{
			name: "percent-encoded id and label",
			uri:  "pkcs11:token=V%C4%83n%20th%C6%B0;id=%01%A2",
			want: signing.PKCS11Config{TokenLabel: "Văn thư", KeyID: []byte{0x01, 0xa2}},
		},
		{
			name: "p11tool style with manufacturer, model and serial",
			uri:  "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=7f3c2a1b;token=t;object=k",
			want: signing.PKCS11Config{TokenLabel: "t", TokenSerial: "7f3c2a1b", KeyLabel: "k"},
		},
		{name: "not a pkcs11 uri", uri: "file:/etc/key.pem", wantErr: `must start with "pkcs11:"`},
		{name: "pin-value refused", uri: "pkcs11:token=t;object=k?pin-value=1234", wantErr: "pin-value is refused"},
		{name: "pin-source refused", uri: "pkcs11:token=t;object=k?pin-source=file:/tmp/pin", wantErr: "pin-source is refused"},
		{name: "module-name unsupported", uri: "pkcs11:token=t;object=k?module-name=softhsm2", wantErr: "module-name is not supported"},
		{name: "certificate object", uri: "pkcs11:token=t;object=k;type=cert", wantErr: "type=private"},
		{name: "unknown attribute", uri: "pkcs11:token=t;colour=blue", wantErr: `unknown attribute "colour"`},
		{name: "unknown query attribute", uri: "pkcs11:token=t?debug=1", wantErr: `unknown query attribute "debug"`},
		{name: "repeated attribute", uri: "pkcs11:token=a;token=b", wantErr: `"token" given twice`},
		{name: "bad percent-encoding", uri: "pkcs11:token=%zz", wantErr: "bad percent-encoding"},
		{name: "attribute without value", uri: "pkcs11:token", wantErr: "want name=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := signing.ParsePKCS11URI(tt.uri)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "1234") {
					t.Errorf("error %q repeats the PIN", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Module != tt.want.Module || got.TokenLabel != tt.want.TokenLabel || got.TokenSerial != tt.want.TokenSerial ||
				got.KeyLabel != tt.want.KeyLabel || !bytes.Equal(got.KeyID, tt.want.KeyID) || got.PIN != "" {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestPKCS11ConfigValidate(t *testing.T) {
	ok := signing.PKCS11Config{Module: "/usr/lib/x.so", TokenLabel: "t", KeyLabel: "k", PIN: "1234"}
	tests := []struct {
		name    string
		edit    func(*signing.PKCS11Config)
		wantErr string
	}{
		{name: "complete", edit: func(*signing.PKCS11Config) {}},
		{name: "no module", edit: func(c *signing.PKCS11Config) { c.Module = "" }, wantErr: "module path is required"},
		{name: "relative module", edit: func(c *signing.PKCS11Config) { c.Module = "libsofthsm2.so" }, wantErr: "must be absolute"},
		{name: "no token", edit: func(c *signing.PKCS11Config) { c.TokenLabel = "" }, wantErr: "token label or serial"},
		{name: "no key", edit: func(c *signing.PKCS11Config) { c.KeyLabel = "" }, wantErr: "key label or id"},
		{name: "no PIN", edit: func(c *signing.PKCS11Config) { c.PIN = "" }, wantErr: "PIN is empty"},
		{name: "one session", edit: func(c *signing.PKCS11Config) { c.MaxSessions = 1 }, wantErr: "max sessions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// The PIN never shows when a config is printed.
func TestPKCS11ConfigHidesPIN(t *testing.T) {
	c := signing.PKCS11Config{Module: "/usr/lib/x.so", TokenLabel: "t", KeyLabel: "k", KeyID: []byte{1}, PIN: "s3cr3t-pin"}
	for _, s := range []string{c.String(), c.GoString()} {
		if strings.Contains(s, "s3cr3t-pin") {
			t.Errorf("%q shows the PIN", s)
		}
		if !strings.Contains(s, "token=t") || !strings.Contains(s, "id=%01") {
			t.Errorf("%q does not describe the key", s)
		}
	}
	back, err := signing.ParsePKCS11URI(c.String())
	if err != nil || back.TokenLabel != "t" || back.KeyLabel != "k" || !bytes.Equal(back.KeyID, []byte{1}) || back.Module != c.Module {
		t.Errorf("String() does not parse back: %#v, %v", back, err)
	}
}

func FuzzParsePKCS11URI(f *testing.F) {
	f.Add("pkcs11:token=agency-token;object=agency-seal;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so")
	f.Add("pkcs11:token=V%C4%83n;id=%01%A2?pin-value=1")
	f.Add("pkcs11:")
	f.Fuzz(func(t *testing.T, uri string) {
		c, err := signing.ParsePKCS11URI(uri)
		if err != nil {
			return
		}
		if c.PIN != "" {
			t.Fatal("a PIN came out of a URI")
		}
		// What parses prints back to a URI that parses to the same key.
		back, err := signing.ParsePKCS11URI(c.String())
		if err != nil {
			t.Fatalf("String() %q does not parse: %v", c.String(), err)
		}
		if back.TokenLabel != c.TokenLabel || back.TokenSerial != c.TokenSerial || back.KeyLabel != c.KeyLabel ||
			!bytes.Equal(back.KeyID, c.KeyID) || back.Module != c.Module {
			t.Fatalf("round trip changed %#v into %#v", c, back)
		}
	})
}
