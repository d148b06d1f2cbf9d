package main

// Pieces shared by the long-running commands (axis, edge, dev): config
// files, trust and key loading, logging and the HTTP server.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/bus"
	"truc.vn/truc/signing"
	"truc.vn/truc/signing/notesig"
)

// trustConfig is where a node finds the government roots, intermediate CAs
// and CRLs it verifies signatures against.
type trustConfig struct {
	// Roots are PEM files of the trust anchors. Required.
	Roots []string `yaml:"roots"`
	// Intermediates are PEM files of intermediate CAs that packages may
	// omit from their KeyInfo.
	Intermediates []string `yaml:"intermediates"`
	// CRLs are DER or PEM CRL files loaded at start.
	CRLs []string `yaml:"crls"`
	// AllowSHA1 accepts legacy rsa-sha1 signatures (verification only).
	AllowSHA1 bool `yaml:"allow_sha1"`
	// CRLGrace is how long past its NextUpdate a CRL still counts.
	CRLGrace time.Duration `yaml:"crl_grace"`
	// CRLURLs are http(s) URLs of CRLs (the CAs' distribution points, or a
	// mirror) fetched at start and every CRLRefresh.
	CRLURLs []string `yaml:"crl_urls"`
	// CRLRefresh is how often the CRL files are read again and the URLs
	// fetched (default 1h): a CRL past its NextUpdate and the grace makes
	// verification fail closed (crl-unavailable) until a fresh one is in.
	CRLRefresh time.Duration `yaml:"crl_refresh"`
}

// sealConfig names the organisation seal key of a node: exactly one of
// Key (a PEM file holding the key, optionally with its chain), P12 or
// PKCS11 (a pkcs11: URI). The PIN or .p12 password comes from SecretEnv or
// SecretFile, never from the config itself.
type sealConfig struct {
	Key          string `yaml:"key"`
	P12          string `yaml:"p12"`
	PKCS11       string `yaml:"pkcs11"`
	PKCS11Module string `yaml:"pkcs11_module"`
	// Cert is a PEM file with the certificate chain (signer first) when
	// the key source does not carry it.
	Cert       string `yaml:"cert"`
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
}

// logConfig sets up structured logging.
type logConfig struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // text (default) or json
}

// loadConfigFile reads a YAML config strictly (unknown fields are errors)
// and resolves relative paths later against its directory.
func loadConfigFile(path string, v any) error {
	b, err := readConfigFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: the file is empty", path)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// resolvePath makes p relative to the directory of the config file.
func resolvePath(configFile, p string) string {
	if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "pkcs11:") {
		return p
	}
	return filepath.Join(filepath.Dir(configFile), p)
}

func (t *trustConfig) resolve(configFile string) {
	// CRLURLs are URLs, not paths.
	for i := range t.Roots {
		t.Roots[i] = resolvePath(configFile, t.Roots[i])
	}
	for i := range t.Intermediates {
		t.Intermediates[i] = resolvePath(configFile, t.Intermediates[i])
	}
	for i := range t.CRLs {
		t.CRLs[i] = resolvePath(configFile, t.CRLs[i])
	}
}

func (s *sealConfig) resolve(configFile string) {
	s.Key = resolvePath(configFile, s.Key)
	s.P12 = resolvePath(configFile, s.P12)
	s.Cert = resolvePath(configFile, s.Cert)
	s.SecretFile = resolvePath(configFile, s.SecretFile)
}

func (t trustConfig) validate() []error {
	var errs []error
	if len(t.Roots) == 0 {
		errs = append(errs, errors.New("trust.roots: at least one root certificate file is required (the system pool is never used)"))
	}
	if t.CRLGrace < 0 {
		errs = append(errs, errors.New("trust.crl_grace: must not be negative"))
	}
	if t.CRLRefresh < 0 || (t.CRLRefresh > 0 && t.CRLRefresh < time.Second) {
		errs = append(errs, errors.New("trust.crl_refresh: at least 1s (0: the default, 1h)"))
	}
	for i, u := range t.CRLURLs {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			errs = append(errs, fmt.Errorf("trust.crl_urls[%d]: an http or https URL, got %q", i, u))
		}
	}
	return errs
}

func (s sealConfig) validate() []error {
	n := 0
	for _, v := range []string{s.Key, s.P12, s.PKCS11} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return []error{errors.New("seal: exactly one of key, p12 and pkcs11 is required")}
	}
	if s.SecretEnv != "" && s.SecretFile != "" {
		return []error{errors.New("seal: secret_env and secret_file are exclusive")}
	}
	return nil
}

// trust is a loaded trust configuration.
type trust struct {
	verifier *signing.Verifier
	crls     *signing.CRLStore
	roots    []*x509.Certificate
	issuers  []*x509.Certificate // roots and intermediates: the CAs whose CRLs count
	cfg      trustConfig
}

func loadTrust(t trustConfig, log *slog.Logger) (*trust, error) {
	var roots, inter []*x509.Certificate
	for _, f := range t.Roots {
		cs, err := readCertificates(f)
		if err != nil {
			return nil, fmt.Errorf("trust.roots: %w", err)
		}
		roots = append(roots, cs...)
	}
	for _, f := range t.Intermediates {
		cs, err := readCertificates(f)
		if err != nil {
			return nil, fmt.Errorf("trust.intermediates: %w", err)
		}
		inter = append(inter, cs...)
	}
	crls := signing.NewCRLStore()
	issuers := append(append([]*x509.Certificate(nil), roots...), inter...)
	for _, f := range t.CRLs {
		if _, err := crls.LoadFile(f, issuers, time.Now()); err != nil {
			return nil, fmt.Errorf("trust.crls: %w", err)
		}
	}
	v, err := signing.NewVerifier(signing.VerifierConfig{
		Roots:         roots,
		Intermediates: inter,
		CRLs:          crls,
		Policy:        signing.Policy{AllowSHA1: t.AllowSHA1, CRLGrace: t.CRLGrace},
		Logger:        log,
	})
	if err != nil {
		return nil, err
	}
	return &trust{verifier: v, crls: crls, roots: roots, issuers: issuers, cfg: t}, nil
}

// refreshCRLs reads the CRL files again and fetches the CRL URLs, every
// CRLRefresh until ctx is done (and once at once for the URLs). A CRL that
// is not newer than the one held is skipped quietly.
func (t *trust) refreshCRLs(ctx context.Context, log *slog.Logger) {
	every := t.cfg.CRLRefresh
	if every == 0 {
		every = time.Hour
	}
	client := &http.Client{Timeout: time.Minute}
	load := func() {
		for _, f := range t.cfg.CRLs {
			if info, err := t.crls.LoadFile(f, t.issuers, time.Now()); err == nil {
				log.Info("crl loaded", "file", f, "number", info.Number, "next_update", info.NextUpdate)
			} else if !errors.Is(err, signing.ErrCRLNotNewer) {
				log.Warn("crl file does not load", "file", f, "err", err)
			}
		}
		for _, u := range t.cfg.CRLURLs {
			if info, err := t.crls.Fetch(ctx, client, u, t.issuers, time.Now()); err == nil {
				log.Info("crl fetched", "url", u, "number", info.Number, "next_update", info.NextUpdate)
			} else if !errors.Is(err, signing.ErrCRLNotNewer) && ctx.Err() == nil {
				log.Warn("crl fetch failed", "url", u, "err", err)
			}
		}
	}
	if len(t.cfg.CRLURLs) > 0 {
		load()
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			load()
		}
	}
}

// seal is a loaded organisation seal key with its chain.
type seal struct {
	key   crypto.Signer
	chain []*x509.Certificate
	close func()
}

func loadSeal(s sealConfig, stderr io.Writer) (*seal, error) {
	var secret string
	if s.SecretEnv != "" || s.SecretFile != "" {
		var err error
		if secret, err = readSecret(s.SecretEnv, s.SecretFile, stderr); err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
	}
	key, certs, closeKey, err := loadSigningKey(s.Key, s.P12, s.PKCS11, s.PKCS11Module, secret)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if s.Cert != "" {
		extra, err := readCertificates(s.Cert)
		if err != nil {
			closeKey()
			return nil, fmt.Errorf("seal.cert: %w", err)
		}
		certs = append(certs, extra...)
	}
	chain, err := signing.ChainForKey(key.Public(), certs)
	if err != nil {
		closeKey()
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &seal{key: key, chain: chain, close: closeKey}, nil
}

// noticeVerifiers returns the note verifiers of an edge's seal certificates.
func noticeVerifiers(e bus.EdgeInfo) (note.Verifiers, error) {
	var vs []note.Verifier
	for _, c := range e.Certificates {
		v, err := notesig.NewCertVerifier(bus.EdgeNoteName(e.ID), c)
		if err != nil {
			continue
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("edge %s has no usable seal certificate in the directory", e.ID)
	}
	return note.VerifierList(vs...), nil
}

func newLogger(c logConfig, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "", "info":
		level = slog.LevelInfo
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("log.level: one of debug, info, warn, error, got %q", c.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(c.Format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log.format: text or json, got %q", c.Format)
}

// serveHTTP serves h on addr until ctx is done, then shuts down
// gracefully. ready receives the bound address.
func serveHTTP(ctx context.Context, addr string, h http.Handler, log *slog.Logger, ready func(net.Addr)) error {
	return serveHTTPS(ctx, addr, h, nil, log, ready)
}

// serveHTTPS is serveHTTP over TLS with tc (plain HTTP when tc is nil).
func serveHTTPS(ctx context.Context, addr string, h http.Handler, tc *tls.Config, log *slog.Logger, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// A 16 MiB letter over a slow provincial link fits in the read
		// timeout; the write timeout covers the longest long poll and a
		// package download. A client that stalls is cut off then.
		ReadTimeout:    10 * time.Minute,
		WriteTimeout:   15 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		IdleTimeout:    2 * time.Minute,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// parseNodeFlags parses the command line of a node command (axis, edge):
// --config FILE and -check-config, no arguments.
func parseNodeFlags(name, synopsis, explain string, args []string, stdout, stderr io.Writer) (configPath string, check bool, err error) {
	fs := newFlagSet(name, synopsis, explain, stderr)
	path := fs.String("config", "", "the "+name+" config `file` (YAML)")
	checkOnly := fs.Bool("check-config", false, "check the config and the files it names, then exit")
	if err := parseFlags(fs, args, stdout); err != nil {
		return "", false, err
	}
	if *path == "" || fs.NArg() > 0 {
		return "", false, usageError(name + " needs --config FILE and no arguments")
	}
	return *path, *checkOnly, nil
}

// nodeConfig is a node's config file type (axisFile, edgeFile).
type nodeConfig interface {
	resolve(path string)
	validate() error
}

// loadNodeConfig reads a node config strictly, makes its paths relative to
// the file, and checks it.
func loadNodeConfig[T any, P interface {
	*T
	nodeConfig
}](path string) (*T, error) {
	c := new(T)
	if err := loadConfigFile(path, c); err != nil {
		return nil, err
	}
	P(c).resolve(path)
	if err := P(c).validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// freePorts finds n consecutive free TCP ports on host for a demo world,
// below the kernel's ephemeral range (32768 and up on Linux): the nodes
// bind them a moment later, and a port from the ephemeral range can be
// handed to another process's outgoing connection in between.
func freePorts(host string, n int) (int, error) {
	for range 200 {
		base := 20000 + rand.IntN(12000-n)
		ok := true
		for i := 0; i < n && ok; i++ {
			l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(base+i)))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("finding free ports: no run of %d free ports on %s", n, host)
}
