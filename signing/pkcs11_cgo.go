//go:build cgo

package signing

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/ThalesIgnite/crypto11"
)

const pkcs11Available = true

func openPKCS11(cfg PKCS11Config) (*PKCS11Key, error) {
	desc := cfg.String()
	if _, err := os.Stat(cfg.Module); err != nil {
		return nil, fmt.Errorf("pkcs11 %s: module: %w", desc, err)
	}
	c11 := &crypto11.Config{
		Path:        cfg.Module,
		Pin:         cfg.PIN,
		MaxSessions: cfg.MaxSessions,
	}
	if cfg.TokenSerial != "" {
		c11.TokenSerial = cfg.TokenSerial
	} else {
		c11.TokenLabel = cfg.TokenLabel
	}
	ctx, err := crypto11.Configure(c11)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 %s: opening the token: %w", desc, err)
	}
	k, err := findPKCS11Key(ctx, cfg, desc)
	if err != nil {
		_ = ctx.Close()
		return nil, err
	}
	return k, nil
}

func findPKCS11Key(ctx *crypto11.Context, cfg PKCS11Config, desc string) (*PKCS11Key, error) {
	var label []byte
	if cfg.KeyLabel != "" {
		label = []byte(cfg.KeyLabel)
	}
	var id []byte
	if len(cfg.KeyID) > 0 {
		id = cfg.KeyID
	}
	pairs, err := ctx.FindKeyPairs(id, label)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 %s: finding the key: %w", desc, err)
	}
	switch len(pairs) {
	case 0:
		return nil, fmt.Errorf("pkcs11 %s: no key pair with that label/id on the token (a private key needs a public key or certificate with the same CKA_ID)", desc)
	case 1:
	default:
		return nil, fmt.Errorf("pkcs11 %s: %d key pairs match; select one with both object= and id=", desc, len(pairs))
	}
	signer := pairs[0]
	if err := checkSignerKey(signer.Public()); err != nil {
		return nil, fmt.Errorf("pkcs11 %s: %w", desc, err)
	}
	cert, err := tokenCertificate(ctx, signer, id)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 %s: reading the certificate: %w", desc, err)
	}
	return &PKCS11Key{signer: signer, cert: cert, desc: desc, close: ctx.Close}, nil
}

// tokenCertificate returns the certificate object that shares the key's
// CKA_ID and public key, or nil.
func tokenCertificate(ctx *crypto11.Context, signer crypto11.Signer, id []byte) (*x509.Certificate, error) {
	if id == nil {
		a, err := ctx.GetAttribute(signer, crypto11.CkaId)
		if err != nil {
			return nil, err
		}
		if a == nil || len(a.Value) == 0 {
			return nil, nil
		}
		id = bytes.Clone(a.Value)
	}
	cert, err := ctx.FindCertificate(id, nil, nil)
	if err != nil {
		return nil, err
	}
	if cert == nil || !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return nil, nil
	}
	return cert, nil
}
