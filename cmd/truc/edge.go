package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/adapters/directory"
	"truc.vn/truc/adapters/kafka"
	"truc.vn/truc/adapters/metrics"
	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/witness"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing"
	"truc.vn/truc/signing/notesig"
)

const edgeSynopsis = "edge --config FILE [-check-config]"

const edgeExplain = `Run an edge node for an agency's document-management software (DMS): it
takes edXML packages from the DMS (HTTP API /v1), signs them with the
agency seal, sends them to the axis through Kafka, receives the packages
for its agencies from its inbox topic (verifying each again), and keeps
them until the DMS takes them. It syncs the directory and CRLs from the
axis. The API listener also serves /v1/openapi.json, /healthz, /readyz and
/metrics.

The config file is YAML; see configs/edge.example.yaml. -check-config
loads and checks it (and the files it names) and exits.

Example:
  truc edge --config /etc/truc/edge.yaml`

// edgeFile is the edge config file.
type edgeFile struct {
	// ID names the edge; its inbox topic is <prefix>.inbox.<id>.
	ID string `yaml:"id"`
	// DataDir holds edge.db (outbox, inbox). Relative to the config file.
	DataDir string         `yaml:"data_dir"`
	Kafka   kafka.Config   `yaml:"kafka"`
	Axis    edgeAxisConfig `yaml:"axis"`
	// Directory.File is a local directory file, used instead of syncing
	// from the axis when axis.url is empty (a standalone pilot).
	Directory struct {
		File string `yaml:"file"`
	} `yaml:"directory"`
	Trust trustConfig    `yaml:"trust"`
	Seal  sealConfig     `yaml:"seal"`
	API   restapi.Config `yaml:"api"`
	// SendsOwn01: the DMS sends its own status 01, the edge does not.
	SendsOwn01 bool `yaml:"sends_own_01"`
	// ResendAfter: an outbox entry without a receipt is sent again after
	// this long (default 30s).
	ResendAfter     time.Duration `yaml:"resend_after"`
	MaxPackageBytes int           `yaml:"max_package_bytes"`
	Log             logConfig     `yaml:"log"`
	// VXP, Webhooks and Folder are the other ways a DMS connects: the
	// VXP-compatible API, pushes to the DMS, and a drop folder.
	VXP      vxpSection     `yaml:"vxp"`
	Webhooks webhookSection `yaml:"webhooks"`
	Folder   folderSection  `yaml:"folder"`
	// Witness: the edge checks and cosigns the axis log's checkpoints.
	Witness witnessSection `yaml:"witness"`
}

type edgeAxisConfig struct {
	// URL of the axis's sync API (directory and CRLs).
	URL string `yaml:"url"`
	// TokenFile or TokenEnv holds the sync bearer token.
	TokenFile string `yaml:"token_file"`
	TokenEnv  string `yaml:"token_env"`
	// LogKeyFile holds the axis log's note verifier key (text form, as
	// `truc axis` prints it and GET /v1/log/key serves it): receipts are
	// checked against it.
	LogKeyFile string `yaml:"log_key_file"`
	// SyncEvery is how often the directory and CRLs are synced (default 30s).
	SyncEvery time.Duration `yaml:"sync_every"`
}

func (c *edgeFile) resolve(path string) {
	c.DataDir = resolvePath(path, c.DataDir)
	c.Axis.TokenFile = resolvePath(path, c.Axis.TokenFile)
	c.Axis.LogKeyFile = resolvePath(path, c.Axis.LogKeyFile)
	c.Directory.File = resolvePath(path, c.Directory.File)
	c.Trust.resolve(path)
	c.Seal.resolve(path)
	if t := c.API.TLS; t != nil {
		t.CertFile = resolvePath(path, t.CertFile)
		t.KeyFile = resolvePath(path, t.KeyFile)
		t.ClientCAFile = resolvePath(path, t.ClientCAFile)
	}
	c.VXP.resolve(path)
	c.Webhooks.resolve(path)
	c.Folder.resolve(path)
}

func (c *edgeFile) validate() error {
	var errs []error
	if err := bus.ValidateEdgeID(c.ID); err != nil {
		errs = append(errs, fmt.Errorf("id: %w", err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: required"))
	}
	if len(c.Kafka.Brokers) == 0 {
		errs = append(errs, errors.New("kafka.brokers: at least one broker address is required"))
	}
	if c.Axis.URL == "" && c.Directory.File == "" {
		errs = append(errs, errors.New("axis.url: required (or directory.file for a standalone edge)"))
	}
	if c.Axis.URL != "" && c.Axis.TokenFile == "" && c.Axis.TokenEnv == "" {
		errs = append(errs, errors.New("axis.token_file: required with axis.url (or axis.token_env): the sync token"))
	}
	if c.Axis.LogKeyFile == "" {
		errs = append(errs, errors.New("axis.log_key_file: required to check the axis's receipts"))
	}
	errs = append(errs, c.Trust.validate()...)
	errs = append(errs, c.Seal.validate()...)
	if err := c.API.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("api: %w", err))
	}
	errs = append(errs, c.VXP.validate()...)
	errs = append(errs, c.Webhooks.validate()...)
	errs = append(errs, c.Folder.validate()...)
	errs = append(errs, c.Witness.validate(c.Axis.URL)...)
	return errors.Join(errs...)
}

// loadEdgeConfig reads, resolves and checks an edge config file.
func loadEdgeConfig(path string) (*edgeFile, error) { return loadNodeConfig[edgeFile](path) }

func runEdge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	path, check, err := parseNodeFlags("edge", edgeSynopsis, edgeExplain, args, stdout, stderr)
	if err != nil {
		return err
	}
	cfg, err := loadEdgeConfig(path)
	if err != nil {
		return err
	}
	logger, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if check {
		if err := cfg.Kafka.ResolveSecrets(os.LookupEnv); err != nil {
			return err
		}
		if _, err := loadTrust(cfg.Trust, nil); err != nil {
			return err
		}
		s, err := loadSeal(cfg.Seal, stderr)
		if err != nil {
			return err
		}
		s.close()
		if _, err := readLogKey(cfg.Axis.LogKeyFile); err != nil {
			return err
		}
		if err := checkWebhooks(cfg); err != nil {
			return err
		}
		if cfg.API.TLS != nil {
			if _, err := cfg.API.TLS.Load(); err != nil {
				return fmt.Errorf("api.tls: %w", err)
			}
		}
		if cfg.Axis.URL != "" {
			if _, err := readToken(cfg.Axis.TokenFile, cfg.Axis.TokenEnv); err != nil {
				return fmt.Errorf("axis token: %w", err)
			}
		}
		fmt.Fprintf(stdout, "%s: ok\n", path)
		return nil
	}
	n, err := startEdge(ctx, cfg, logger, stderr)
	if err != nil {
		return err
	}
	defer n.close()
	return n.run(ctx, nil)
}

func readLogKey(path string) (string, error) {
	b, err := readSmallFile(path)
	if err != nil {
		return "", fmt.Errorf("axis.log_key_file: %w", err)
	}
	text := strings.TrimSpace(string(b))
	if _, err := verifiersFromText(text); err != nil {
		return "", fmt.Errorf("axis.log_key_file: %s: %w", path, err)
	}
	return text, nil
}

func readToken(file, env string) (string, error) {
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return strings.TrimSpace(v), nil
	case file != "":
		b, err := readSmallFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", nil
}

// edgeNode is a started edge.
type edgeNode struct {
	cfg       *edgeFile
	log       *slog.Logger
	store     *boltstore.Store
	transport *kafka.Transport
	dir       *directory.Directory
	syncer    *directory.Syncer
	trust     *trust
	seal      *seal
	edge      *bus.Edge
	api       *restapi.Handler
	handler   http.Handler
	tls       *tls.Config      // the API's TLS (optional mTLS), nil for plain HTTP
	witness   *witness.Witness // nil when the edge does not witness the axis log
	// services run beside the edge (webhooks, drop folder) until ctx ends.
	services []func(context.Context) error
}

func startEdge(ctx context.Context, cfg *edgeFile, log *slog.Logger, stderr io.Writer) (n *edgeNode, err error) {
	if err := cfg.Kafka.ResolveSecrets(os.LookupEnv); err != nil {
		return nil, err
	}
	log = log.With("edge", cfg.ID)
	n = &edgeNode{cfg: cfg, log: log}
	node := n
	defer func() {
		if err != nil {
			node.close()
		}
	}()
	if n.trust, err = loadTrust(cfg.Trust, log); err != nil {
		return nil, err
	}
	if n.seal, err = loadSeal(cfg.Seal, stderr); err != nil {
		return nil, err
	}
	logKey, err := readLogKey(cfg.Axis.LogKeyFile)
	if err != nil {
		return nil, err
	}
	axisVerifiers, _ := verifiersFromText(logKey)
	noticeSigner, err := notesig.NewSigner(bus.EdgeNoteName(cfg.ID), n.seal.key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	if n.store, err = boltstore.Open(filepath.Join(cfg.DataDir, "edge.db"), boltstore.Config{Logger: log}); err != nil {
		return nil, err
	}
	if n.transport, err = kafka.New(cfg.Kafka, log); err != nil {
		return nil, err
	}
	dcfg := directory.Config{Topics: n.transport.Topics()}
	if cfg.Axis.URL != "" {
		if insecureRemote(cfg.Axis.URL) {
			log.Warn("edge: axis.url is plain http to another host: the directory and CRLs it syncs are not protected; use https", "url", cfg.Axis.URL)
		}
		token, err := readToken(cfg.Axis.TokenFile, cfg.Axis.TokenEnv)
		if err != nil {
			return nil, fmt.Errorf("axis token: %w", err)
		}
		if n.dir, _, err = directory.Open(ctx, dcfg, dirLog{n.store.DirectoryLog()}, nil); err != nil {
			return nil, err
		}
		n.syncer = &directory.Syncer{
			URL: cfg.Axis.URL, Token: token, Every: cfg.Axis.SyncEvery, Logger: log,
			OnCRLs: func(_ context.Context, ders [][]byte) error {
				for _, der := range ders {
					if _, err := n.trust.crls.Add(der, n.trust.issuers, time.Now()); err != nil && !errors.Is(err, signing.ErrCRLNotNewer) {
						log.Warn("edge: a CRL from the axis does not load", "err", err)
					}
				}
				return nil
			},
		}
		// Start with the axis's current directory when it answers; a
		// restart with the axis down works from the copy in the store.
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = n.syncer.SyncOnce(sctx, n.dir)
		cancel()
		if err != nil {
			if n.dir.Version() == 0 {
				return nil, fmt.Errorf("syncing the directory from %s: %w", cfg.Axis.URL, err)
			}
			log.Warn("edge: the axis does not answer; working from the stored directory", "version", n.dir.Version(), "err", err)
		}
	} else {
		seed, err := directory.ReadFile(cfg.Directory.File, n.transport.Topics())
		if err != nil {
			return nil, err
		}
		if n.dir, _, err = directory.Open(ctx, dcfg, dirLog{n.store.DirectoryLog()}, seed); err != nil {
			return nil, err
		}
	}
	served := func(organID string) bool {
		a, ok := n.dir.Agency(organID)
		return ok && a.Edge == cfg.ID
	}
	signer, err := signing.NewSigner(n.seal.key, n.seal.chain)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	busVerifier, err := signing.NewBusVerifier(n.trust.verifier, n.dir)
	if err != nil {
		return nil, err
	}
	registry, hooks, verifier, sealSigner := n.instrument(busVerifier, signing.NewSealSigner(signer, served))
	// Every checkpoint a receipt brings is checked by the witness (set up
	// below, before the edge runs).
	hooks.Checkpoint = func(note []byte) {
		if n.witness != nil {
			n.witness.Observe(note)
		}
	}
	n.edge, err = bus.NewEdge(bus.EdgeConfig{
		ID:              cfg.ID,
		Topics:          n.transport.Topics(),
		MaxPackageBytes: cfg.MaxPackageBytes,
		ResendAfter:     cfg.ResendAfter,
		SendsOwn01:      cfg.SendsOwn01,
		AxisVerifiers:   axisVerifiers,
		NoticeSigner:    noticeSigner,
		NoticeVerifiers: noticeVerifiers,
		Logger:          log,
		Hooks:           hooks,
	}, n.transport, n.store.Edge(), n.dir, verifier, sealSigner)
	if err != nil {
		return nil, err
	}
	if cfg.API.TLS != nil {
		if n.tls, err = cfg.API.TLS.Load(); err != nil {
			return nil, fmt.Errorf("api.tls: %w", err)
		}
	}
	opts, err := n.webhookOptions()
	if err != nil {
		return nil, err
	}
	api, err := restapi.New(cfg.API, n.edge, log, opts...)
	if err != nil {
		return nil, err
	}
	n.api = api
	ops := metrics.Ops{
		Registry: registry,
		Ready: func(ctx context.Context) error {
			if err := n.transport.Ping(ctx); err != nil {
				return fmt.Errorf("kafka: %w", err)
			}
			return n.edge.Ready(ctx)
		},
		Logger: log,
	}.Handler()
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.Handle("/healthz", ops)
	mux.Handle("/readyz", ops)
	mux.Handle("/metrics", ops)
	if err := n.startVXP(mux); err != nil {
		return nil, fmt.Errorf("vxp: %w", err)
	}
	for _, start := range []func(context.Context) (func(context.Context) error, error){n.startWebhooks, n.startFolder, n.startWitness} {
		run, err := start(ctx)
		if err != nil {
			return nil, err
		}
		if run != nil {
			n.services = append(n.services, run)
		}
	}
	if n.witness != nil {
		registry.MustRegister(witnessCollector(n.witness))
	}
	n.handler = mux
	return n, nil
}

func (n *edgeNode) run(ctx context.Context, ready func(net.Addr)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Stopping ends the DMS long polls at once, so that the HTTP shutdown
	// does not wait for them.
	defer context.AfterFunc(ctx, n.api.EndLongPolls)()
	var wg sync.WaitGroup
	errc := make(chan error, 4+len(n.services))
	start := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				errc <- err
			}
			cancel()
		}()
	}
	start(func() error { return n.edge.Run(ctx) })
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.trust.refreshCRLs(ctx, n.log)
	}()
	start(func() error {
		return serveHTTPS(ctx, n.cfg.API.Listen, n.handler, n.tls, n.log, func(a net.Addr) {
			n.log.Info("edge: serving the DMS API", "addr", a.String(), "directory_version", n.dir.Version())
			if ready != nil {
				ready(a)
			}
		})
	})
	if n.syncer != nil {
		start(func() error { return n.syncer.Run(ctx, n.dir) })
	}
	for _, run := range n.services {
		start(func() error { return run(ctx) })
	}
	wg.Wait()
	close(errc)
	return <-errc
}

func (n *edgeNode) close() {
	n.closeWebhooks()
	if n.transport != nil {
		_ = n.transport.Close()
	}
	if n.store != nil {
		_ = n.store.Close()
	}
	if n.seal != nil {
		n.seal.close()
	}
}

// insecureRemote reports whether u is plain http to a host other than
// this machine: the directory synced over it decides which certificates
// may sign for which agency, so it needs TLS.
func insecureRemote(u string) bool {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Scheme != "http" {
		return false
	}
	host := parsed.Hostname()
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}
