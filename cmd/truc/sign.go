package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"truc.vn/truc/edoc"
	"truc.vn/truc/signing"
)

const signSynopsis = "sign (--key FILE | --p12 FILE | --pkcs11 URI) [--cert FILE] [--pin-env NAME | --pin-file PATH] [-o PATH] [flags] FILE..."

const signExplain = `
Sign edXML packages with an agency key: an enveloped XML-DSig signature
(RSA-SHA256 or ECDSA, exclusive c14n) as the last child of edXMLHeader,
with the signer's certificate and intermediates in KeyInfo. A legacy
QCVN-namespace Signature block is replaced; a package that already carries
an XML-DSig signature is refused unless --resign is given.

The key comes from exactly one of:
  --key FILE      a PEM private key (PKCS#1, PKCS#8 or SEC1; not encrypted)
  --p12 FILE      a PKCS#12 file (.p12/.pfx); its password from --pin-env or
                  --pin-file, or empty
  --pkcs11 URI    a key on a PKCS#11 token (RFC 7512), for example
                  pkcs11:token=agency-token;object=agency-seal?module-path=/usr/lib/softhsm/libsofthsm2.so
                  Its PIN comes from --pin-env or --pin-file. It is never
                  given on the command line nor in the URI.

The certificate whose public key matches the key is found in the key file,
the .p12, on the token and in --cert (PEM or DER); its issuing CAs found
there follow it in KeyInfo. Roots are left out.

Each FILE is written to FILE with ".signed" before its extension
(letter.edxml -> letter.signed.edxml), or to -o: a file for one input
("-" for standard output), an existing directory for several. Existing
outputs are kept unless --force. "-" as the only FILE reads standard input.
Several files show progress on standard error; a file that fails does not
stop the others.

Exit status: 0 all signed; 1 a package or the key failed; 2 wrong usage.

Examples:
  truc sign --key demo-pki/issued/vpcp.key --cert demo-pki/issued/vpcp-chain.pem letter.edxml
  TOKEN_PIN=1234 truc sign --pkcs11 'pkcs11:token=vpcp;object=seal?module-path=/usr/lib/softhsm/libsofthsm2.so' \
      --pin-env TOKEN_PIN --cert vpcp-chain.pem -o out/ *.edxml
`

func runSign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sign", signSynopsis, signExplain, stderr)
	keyFile := fs.String("key", "", "PEM private key `file`")
	p12File := fs.String("p12", "", "PKCS#12 `file` with the key and its certificates")
	p11URI := fs.String("pkcs11", "", "PKCS#11 `URI` of the key on a token")
	p11Module := fs.String("pkcs11-module", "", "PKCS#11 module `path`, when the URI has no module-path")
	certFile := fs.String("cert", "", "certificates `file` (PEM or DER): the signer's certificate and/or its intermediates")
	pinEnv := fs.String("pin-env", "", "read the token PIN or .p12 password from environment variable `NAME`")
	pinFile := fs.String("pin-file", "", "read the token PIN or .p12 password from `file` (first line)")
	out := fs.String("o", "", "output `path`: a file for one input (- for standard output), a directory for several")
	resign := fs.Bool("resign", false, "replace an existing XML-DSig signature")
	force := fs.Bool("force", false, "overwrite existing output files")
	files, err := parseInterleaved(fs, args, stdout)
	if err != nil {
		return err
	}

	sources := 0
	for _, s := range []string{*keyFile, *p12File, *p11URI} {
		if s != "" {
			sources++
		}
	}
	switch {
	case sources != 1:
		return usageError("sign: give exactly one of --key, --p12 and --pkcs11 (see truc sign -h)")
	case len(files) == 0:
		return usageError("sign: no package to sign (see truc sign -h)")
	case *pinEnv != "" && *pinFile != "":
		return usageError("sign: give --pin-env or --pin-file, not both")
	case *keyFile != "" && (*pinEnv != "" || *pinFile != ""):
		return usageError("sign: a PEM key takes no PIN (encrypted PEM keys are not supported: use a .p12)")
	case *p11URI != "" && *pinEnv == "" && *pinFile == "":
		return usageError("sign: a PKCS#11 key needs its PIN from --pin-env or --pin-file")
	case *p11URI == "" && *p11Module != "":
		return usageError("sign: --pkcs11-module goes with --pkcs11")
	}
	for _, f := range files {
		if f == "-" && len(files) > 1 {
			return usageError("sign: - (standard input) must be the only FILE")
		}
	}
	outputs, err := signOutputs(files, *out)
	if err != nil {
		return err
	}
	secret := ""
	if *pinEnv != "" || *pinFile != "" {
		if secret, err = readSecret(*pinEnv, *pinFile, stderr); err != nil {
			return usageError("sign: " + err.Error())
		}
	}
	var extra []*x509.Certificate
	if *certFile != "" {
		if extra, err = readCertificates(*certFile); err != nil {
			return usageError("sign: --cert: " + err.Error())
		}
	}

	key, certs, closeKey, err := loadSigningKey(*keyFile, *p12File, *p11URI, *p11Module, secret)
	if err != nil {
		fmt.Fprintf(stderr, "truc sign: %v\n", err)
		return failed(exitFailure)
	}
	defer closeKey()
	chain, err := signing.ChainForKey(key.Public(), append(certs, extra...))
	if err != nil {
		fmt.Fprintf(stderr, "truc sign: %v: give the signer's certificate with --cert\n", err)
		return failed(exitFailure)
	}
	signer, err := signing.NewSigner(key, chain)
	if err != nil {
		fmt.Fprintf(stderr, "truc sign: %v\n", err)
		return failed(exitFailure)
	}
	fmt.Fprintf(stderr, "signing as %s (sha256 %s)\n", chain[0].Subject, signing.Fingerprint(chain[0]))

	opts := signing.SignOptions{Resign: *resign}
	bad := 0
	for i, in := range files {
		if err := ctx.Err(); err != nil {
			fmt.Fprintf(stderr, "truc sign: stopped: %v (%d of %d done)\n", err, i, len(files))
			return failed(exitFailure)
		}
		n, err := signFile(signer, opts, in, outputs[i], *force, stdout)
		prefix := ""
		if len(files) > 1 {
			prefix = fmt.Sprintf("[%d/%d] ", i+1, len(files))
		}
		if err != nil {
			bad++
			fmt.Fprintf(stderr, "%s%s: FAILED: %v\n", prefix, in, err)
			continue
		}
		if outputs[i] != "-" {
			fmt.Fprintf(stderr, "%s%s -> %s (%d bytes)\n", prefix, in, outputs[i], n)
		}
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "truc sign: %d of %d packages failed\n", bad, len(files))
		return failed(exitFailure)
	}
	return nil
}

// loadSigningKey opens the one key source given and returns the key, the
// certificates that came with it, and a function that releases it.
func loadSigningKey(keyFile, p12File, p11URI, p11Module, secret string) (crypto.Signer, []*x509.Certificate, func(), error) {
	noop := func() {}
	switch {
	case keyFile != "":
		b, err := readSmallFile(keyFile)
		if err != nil {
			return nil, nil, nil, err
		}
		key, err := signing.ParsePrivateKeyPEM(b)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", keyFile, err)
		}
		certs, _ := signing.ParseCertificatesPEM(b) // a combined key-and-chain file
		return key, certs, noop, nil
	case p12File != "":
		b, err := readSmallFile(p12File)
		if err != nil {
			return nil, nil, nil, err
		}
		key, chain, err := signing.LoadPKCS12(b, secret)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", p12File, err)
		}
		return key, chain, noop, nil
	default:
		cfg, err := signing.ParsePKCS11URI(p11URI)
		if err != nil {
			return nil, nil, nil, err
		}
		if p11Module != "" {
			if cfg.Module != "" && cfg.Module != p11Module {
				return nil, nil, nil, fmt.Errorf("--pkcs11-module %s differs from the URI's module-path %s", p11Module, cfg.Module)
			}
			cfg.Module = p11Module
		}
		cfg.PIN = secret
		key, err := signing.OpenPKCS11(cfg)
		if err != nil {
			return nil, nil, nil, err
		}
		var certs []*x509.Certificate
		if c := key.Certificate(); c != nil {
			certs = append(certs, c)
		}
		return key, certs, func() { _ = key.Close() }, nil
	}
}

// signOutputs decides where each input goes.
func signOutputs(files []string, out string) ([]string, error) {
	outputs := make([]string, len(files))
	if len(files) == 1 {
		switch {
		case out != "":
			if st, err := os.Stat(out); err == nil && st.IsDir() {
				outputs[0] = filepath.Join(out, signedName(filepath.Base(files[0])))
			} else {
				outputs[0] = out
			}
		case files[0] == "-":
			outputs[0] = "-"
		default:
			outputs[0] = filepath.Join(filepath.Dir(files[0]), signedName(filepath.Base(files[0])))
		}
		return outputs, nil
	}
	if out == "-" {
		return nil, usageError("sign: -o - (standard output) takes one input only")
	}
	if out != "" {
		if st, err := os.Stat(out); err != nil || !st.IsDir() {
			return nil, usageError(fmt.Sprintf("sign: with several inputs, -o must be an existing directory (%s is not)", out))
		}
	}
	seen := map[string]string{}
	for i, f := range files {
		dir := filepath.Dir(f)
		if out != "" {
			dir = out
		}
		outputs[i] = filepath.Join(dir, signedName(filepath.Base(f)))
		if prev, dup := seen[outputs[i]]; dup {
			return nil, usageError(fmt.Sprintf("sign: %s and %s would both be written to %s", prev, f, outputs[i]))
		}
		seen[outputs[i]] = f
	}
	return outputs, nil
}

// signedName inserts ".signed" before the extension.
func signedName(base string) string {
	ext := filepath.Ext(base)
	if ext == "" || ext == base {
		return base + ".signed"
	}
	return strings.TrimSuffix(base, ext) + ".signed" + ext
}

// signFile signs one package and writes it; it returns the output size.
func signFile(s *signing.Signer, opts signing.SignOptions, in, out string, force bool, stdout io.Writer) (int, error) {
	var (
		data []byte
		err  error
	)
	if in == "-" {
		data, err = readCapped(os.Stdin, edoc.DefaultMaxBytes)
	} else {
		data, err = readPackageFile(in)
	}
	if err != nil {
		return 0, err
	}
	signed, err := s.Sign(data, opts)
	if err != nil {
		if errors.Is(err, signing.ErrAlreadySigned) {
			return 0, fmt.Errorf("%w (use --resign)", err)
		}
		return 0, err
	}
	if out == "-" {
		_, err := stdout.Write(signed)
		return len(signed), err
	}
	if !force {
		if _, err := os.Lstat(out); err == nil {
			return 0, fmt.Errorf("%s exists (use --force to overwrite)", out)
		}
	}
	if err := writeFileAtomic(out, signed, 0o644); err != nil {
		return 0, err
	}
	return len(signed), nil
}

// --- helpers shared by sign, verify and pki ---

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, and returns the positional ones. "--" ends the
// flags.
func parseInterleaved(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args, stdout); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// readSecret reads a PIN or password from an environment variable or the
// first line of a file. It warns when the file is readable by others.
func readSecret(envName, path string, stderr io.Writer) (string, error) {
	if envName != "" {
		v, ok := os.LookupEnv(envName)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set or empty", envName)
		}
		return v, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("PIN file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "truc: warning: %s is readable by other users (mode %v); chmod 600 it\n", path, st.Mode().Perm())
	}
	b, err := readSmallFile(path)
	if err != nil {
		return "", fmt.Errorf("PIN file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("PIN file %s is empty", path)
	}
	return line, nil
}

// readCertificates reads certificates from a PEM file, or one DER
// certificate.
func readCertificates(path string) ([]*x509.Certificate, error) {
	b, err := readSmallFile(path)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(string(b), "-----BEGIN") {
		if c, err := x509.ParseCertificate(b); err == nil {
			return []*x509.Certificate{c}, nil
		}
	}
	certs, err := signing.ParseCertificatesPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}

// readSmallFile reads a key, certificate or secret file (at most 4 MiB).
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := readCapped(f, 4<<20)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// readPackageFile reads a package, at most one byte over the inline cap so
// that the library reports the size error.
func readPackageFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, edoc.DefaultMaxBytes+1))
}

func readCapped(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return b, nil
}

// writeFileAtomic writes data to path through a synced temporary file in
// the same directory and a rename.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err = f.Write(data); err == nil {
		if err = f.Chmod(perm); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
