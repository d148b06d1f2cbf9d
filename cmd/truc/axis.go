package main

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/adapters/directory"
	"truc.vn/truc/adapters/kafka"
	"truc.vn/truc/adapters/metrics"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing"
	"truc.vn/truc/signing/notesig"
)

const axisSynopsis = "axis --config FILE [-check-config]\n       truc axis onboard --axis URL --token-file FILE --edge ID --cert PEM --agency ORGANID=NAME..."

const axisExplain = `Run the central axis: consume truc.submit, verify every package, record it
in the ledger and the transparency log, route it to every recipient edge,
and send signed receipts. The HTTP listener serves:
  /admin/v1/...        the directory admin API, and /admin/v1/letters?key=
                       (a letter's per-recipient state and timeline); admin token
  /v1/directory, /v1/crls   directory and CRL sync for edges; sync token
  /v1/edge/agencies    an edge registers or removes an agency it serves
                       (VXP registerAgency/deleteAgency); sync token and a
                       request signed with the edge's seal
  /v1/log/checkpoint[/{size}], /v1/log/consistency?old=&new=,
  /v1/log/inclusion?index=&size=, /v1/log/key, /v1/log/keys,
  /v1/log/cosigned?size=|min=|after=&upto=
                       the transparency log, for auditors
  /v1/log/cosignatures (POST) the edges' witness cosignatures
  /admin/v1/log/leaves?key=, /admin/v1/audit/bundle?document=
                       a letter's log leaves and its evidence bundle; admin token
  /v1/audit/evidence   evidence for an edge that sent or received a letter;
                       the request is signed with the edge's seal
  /dashboard/          the central-office dashboard (users in the dashboard: section)
  /healthz, /readyz, /metrics

The config file is YAML; see configs/axis.example.yaml. -check-config
loads and checks it (and the files it names) and exits. "truc axis
onboard" registers an edge with a running axis.

Example:
  truc axis --config /etc/truc/axis.yaml
  truc axis --config /etc/truc/axis.yaml -check-config`

// axisFile is the axis config file.
type axisFile struct {
	// OrganID is the axis operator's OrganId: receipts are sent as it.
	OrganID string `yaml:"organ_id"`
	// DataDir holds axis.db (ledger, log, directory). Relative to the
	// config file.
	DataDir string `yaml:"data_dir"`
	// Listen is the address of the admin, sync and ops HTTP server.
	Listen    string              `yaml:"listen"`
	Kafka     kafka.Config        `yaml:"kafka"`
	Directory axisDirectoryConfig `yaml:"directory"`
	Trust     trustConfig         `yaml:"trust"`
	Seal      sealConfig          `yaml:"seal"`
	// MaxPackageBytes is the largest package accepted (default 16 MiB).
	MaxPackageBytes int `yaml:"max_package_bytes"`
	// RedeliverAfter: an unacknowledged delivery is published again
	// after this long (default 5m).
	RedeliverAfter time.Duration `yaml:"redeliver_after"`
	// CheckpointEvery: the log is checkpointed and receipts sent this
	// often (default 1s, at most 1s).
	CheckpointEvery time.Duration `yaml:"checkpoint_every"`
	// Retention: package bytes are kept this long for redelivery
	// (default 720h).
	Retention time.Duration `yaml:"retention"`
	Log       logConfig     `yaml:"log"`
	// Dashboard is the central-office dashboard at /dashboard/ (off
	// without users).
	Dashboard dashboardSection `yaml:"dashboard"`
}

type axisDirectoryConfig struct {
	// File seeds the directory on the first start; after that the
	// directory lives in the axis store and changes through the admin API.
	File string `yaml:"file"`
	// AdminTokens are hex SHA-256 hashes of the admin API bearer tokens.
	AdminTokens []string `yaml:"admin_tokens_sha256"`
	// SyncTokens are hex SHA-256 hashes of the tokens edges sync with.
	SyncTokens []string `yaml:"sync_tokens_sha256"`
}

func (c *axisFile) resolve(path string) {
	c.DataDir = resolvePath(path, c.DataDir)
	c.Directory.File = resolvePath(path, c.Directory.File)
	c.Trust.resolve(path)
	c.Seal.resolve(path)
	c.Dashboard.resolve(path)
}

func (c *axisFile) validate() error {
	var errs []error
	if err := bus.ValidateOrganID(c.OrganID); err != nil {
		errs = append(errs, fmt.Errorf("organ_id: %w", err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: required"))
	}
	if c.Listen == "" {
		errs = append(errs, errors.New("listen: required (host:port of the admin, sync and ops server)"))
	}
	if len(c.Kafka.Brokers) == 0 {
		errs = append(errs, errors.New("kafka.brokers: at least one broker address is required"))
	}
	if err := (directory.AdminConfig{TokensSHA256: c.Directory.AdminTokens}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("directory.admin_tokens_sha256: %w", err))
	}
	if err := (directory.SyncConfig{TokensSHA256: c.Directory.SyncTokens}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("directory.sync_tokens_sha256: %w", err))
	}
	for i, a := range c.Directory.AdminTokens {
		for j, s := range c.Directory.SyncTokens {
			if strings.EqualFold(a, s) {
				errs = append(errs, fmt.Errorf("directory.sync_tokens_sha256[%d]: the same token as admin_tokens_sha256[%d]: every edge would hold an admin token", j, i))
			}
		}
	}
	errs = append(errs, c.Trust.validate()...)
	errs = append(errs, c.Seal.validate()...)
	if c.CheckpointEvery > time.Second {
		errs = append(errs, fmt.Errorf("checkpoint_every: at most 1s, got %s", c.CheckpointEvery))
	}
	errs = append(errs, c.Dashboard.validate()...)
	return errors.Join(errs...)
}

// loadAxisConfig reads, resolves and checks an axis config file.
func loadAxisConfig(path string) (*axisFile, error) { return loadNodeConfig[axisFile](path) }

func runAxis(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "onboard" {
		return runAxisOnboard(ctx, args[1:], stdout, stderr)
	}
	path, check, err := parseNodeFlags("axis", axisSynopsis, axisExplain, args, stdout, stderr)
	if err != nil {
		return err
	}
	cfg, err := loadAxisConfig(path)
	if err != nil {
		return err
	}
	logger, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if check {
		if err := checkAxisFiles(cfg, stderr); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: ok\n", path)
		return nil
	}
	n, err := startAxis(ctx, cfg, logger, stderr)
	if err != nil {
		return err
	}
	defer n.close()
	return n.run(ctx, nil)
}

// checkAxisFiles loads everything the config names, without opening the
// store or the broker.
func checkAxisFiles(cfg *axisFile, stderr io.Writer) error {
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
	if cfg.Directory.File != "" {
		if _, err := directory.ReadFile(cfg.Directory.File, bus.Topics{}); err != nil {
			return err
		}
	}
	return nil
}

// axisNode is a started axis: store, broker connection, directory,
// router and HTTP server.
type axisNode struct {
	cfg       *axisFile
	log       *slog.Logger
	store     *boltstore.Store
	transport *kafka.Transport
	dir       *directory.Directory
	trust     *trust
	seal      *seal
	axis      *bus.Axis
	handler   http.Handler
	registry  *prometheus.Registry
	logKey    string // the note verifier key of the log, text form
	// dashboard runs the dashboard's indexer until ctx ends.
	dashboard func(context.Context) error
}

// axisLogSigner returns the note signer of the transparency log: the axis
// seal key under the name truc.vn/axis/<OrganId>.
func axisLogSigner(key crypto.Signer, organID string) (*notesig.Signer, error) {
	return notesig.NewSigner("truc.vn/axis/"+organID, key)
}

// axisLogVerifierText returns the text form of the log's verifier key, the
// value edges configure to check receipts.
func axisLogVerifierText(key crypto.Signer, organID string) (string, error) {
	s, err := axisLogSigner(key, organID)
	if err != nil {
		return "", err
	}
	return s.Verifier().String(), nil
}

func startAxis(ctx context.Context, cfg *axisFile, log *slog.Logger, stderr io.Writer) (n *axisNode, err error) {
	if err := cfg.Kafka.ResolveSecrets(os.LookupEnv); err != nil {
		return nil, err
	}
	n = &axisNode{cfg: cfg, log: log}
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
	logSigner, err := axisLogSigner(n.seal.key, cfg.OrganID)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	n.logKey = logSigner.Verifier().String()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	n.store, err = boltstore.Open(filepath.Join(cfg.DataDir, "axis.db"), boltstore.Config{LogSigner: logSigner, Logger: log})
	if err != nil {
		return nil, err
	}
	if n.transport, err = kafka.New(cfg.Kafka, log); err != nil {
		return nil, err
	}
	var seed *directory.File
	if cfg.Directory.File != "" {
		if seed, err = directory.ReadFile(cfg.Directory.File, n.transport.Topics()); err != nil {
			return nil, err
		}
	}
	dres := directory.OpenResult{}
	n.dir, dres, err = directory.Open(ctx, directory.Config{Topics: n.transport.Topics()}, dirLog{n.store.DirectoryLog()}, seed)
	if err != nil {
		return nil, err
	}
	if dres.SeedChanged {
		log.Warn("axis: the directory file changed since it seeded the directory; its edits are not in effect (use the admin API)", "file", cfg.Directory.File)
	}
	var edgeIDs []string
	for _, e := range n.dir.Edges() {
		edgeIDs = append(edgeIDs, e.ID)
	}
	if err := n.transport.EnsureTopics(ctx, edgeIDs...); err != nil {
		return nil, err
	}
	verifier, err := signing.NewBusVerifier(n.trust.verifier, n.dir)
	if err != nil {
		return nil, err
	}
	hooks, timedVerifier := n.instrument(verifier)
	n.axis, err = bus.NewAxis(bus.AxisConfig{
		OrganID:         cfg.OrganID,
		Topics:          n.transport.Topics(),
		MaxPackageBytes: cfg.MaxPackageBytes,
		RedeliverAfter:  cfg.RedeliverAfter,
		CheckpointEvery: cfg.CheckpointEvery,
		Retention:       cfg.Retention,
		NoticeVerifiers: noticeVerifiers,
		Logger:          log,
		Hooks:           hooks,
	}, n.transport, n.store.Ledger(), n.dir, timedVerifier)
	if err != nil {
		return nil, err
	}
	if n.handler, err = n.routes(); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *axisNode) routes() (http.Handler, error) {
	mux := http.NewServeMux()
	admin, err := directory.NewAdminHandler(n.dir, directory.AdminConfig{
		TokensSHA256: n.cfg.Directory.AdminTokens,
		OnEdge: func(ctx context.Context, e bus.EdgeInfo) error {
			return n.transport.EnsureTopics(ctx, e.ID)
		},
		Logger: n.log,
	})
	if err != nil {
		return nil, fmt.Errorf("directory.admin_tokens_sha256: %w", err)
	}
	sync, err := directory.NewSyncHandler(n.dir, directory.SyncConfig{
		TokensSHA256: n.cfg.Directory.SyncTokens,
		CRLs:         n.trust.crls.DER,
		Logger:       n.log,
	})
	if err != nil {
		return nil, fmt.Errorf("directory.sync_tokens_sha256: %w", err)
	}
	mux.Handle("/admin/", admin)
	mux.Handle("GET /admin/v1/letters", n.adminOnly(http.HandlerFunc(n.letter)))
	mux.Handle("/v1/directory", sync)
	mux.Handle("/v1/crls", sync)
	edgeAPI, err := n.edgeAPI()
	if err != nil {
		return nil, err
	}
	mux.Handle(directory.EdgeAgencyPath, edgeAPI)
	n.auditRoutes(mux)
	mux.HandleFunc("GET /v1/log/checkpoint", func(w http.ResponseWriter, r *http.Request) {
		cp, err := n.store.Log().Checkpoint(r.Context())
		if err != nil {
			http.Error(w, "no checkpoint yet", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(cp.Note)
	})
	mux.HandleFunc("GET /v1/log/consistency", func(w http.ResponseWriter, r *http.Request) {
		// ?old=N&new=M: the RFC 6962 consistency proof between two tree
		// sizes, one base64 hash per line, for auditors and tests.
		oldSize, err1 := strconv.ParseInt(r.URL.Query().Get("old"), 10, 64)
		newSize, err2 := strconv.ParseInt(r.URL.Query().Get("new"), 10, 64)
		if err1 != nil || err2 != nil {
			http.Error(w, "old and new must be tree sizes (integers)", http.StatusBadRequest)
			return
		}
		proof, err := n.store.Log().ConsistencyProof(r.Context(), oldSize, newSize)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, h := range proof {
			fmt.Fprintln(w, base64.StdEncoding.EncodeToString(h[:]))
		}
	})
	mux.HandleFunc("GET /v1/log/key", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, n.logKey+"\n")
	})
	n.witnessRoutes(mux)
	ops := metrics.Ops{
		Registry: n.registry,
		Ready: func(ctx context.Context) error {
			if err := n.transport.Ping(ctx); err != nil {
				return fmt.Errorf("kafka: %w", err)
			}
			_, err := n.store.Log().Size(ctx)
			return err
		},
		Logger: n.log,
	}.Handler()
	mux.Handle("/healthz", ops)
	mux.Handle("/readyz", ops)
	mux.Handle("/metrics", ops)
	if n.dashboard, err = n.startDashboard(mux); err != nil {
		return nil, err
	}
	return mux, nil
}

func (n *axisNode) logStatus(ctx context.Context) (size, checkpoint int64, signedAt time.Time, err error) {
	st, err := n.store.Log().Status(ctx)
	if err != nil {
		return 0, 0, time.Time{}, err
	}
	return st.Size, st.CheckpointSize, st.CheckpointSignedAt, nil
}

// run serves until ctx is done. ready, if set, receives the HTTP address.
func (n *axisNode) run(ctx context.Context, ready func(net.Addr)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(5)
	go func() {
		defer wg.Done()
		n.trust.refreshCRLs(ctx, n.log)
	}()
	go func() {
		defer wg.Done()
		// The dashboard failing never stops the axis.
		if err := n.dashboard(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("axis: the dashboard stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		n.runCRLArchive(ctx)
	}()
	go func() {
		defer wg.Done()
		if err := n.axis.Run(ctx); err != nil {
			errc <- err
		}
		cancel()
	}()
	go func() {
		defer wg.Done()
		if err := serveHTTP(ctx, n.cfg.Listen, n.handler, n.log, func(a net.Addr) {
			n.log.Info("axis: serving", "addr", a.String(), "organ_id", n.cfg.OrganID, "directory_version", n.dir.Version())
			if ready != nil {
				ready(a)
			}
		}); err != nil {
			errc <- err
		}
		cancel()
	}()
	wg.Wait()
	close(errc)
	return <-errc
}

func (n *axisNode) close() {
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

// verifiersFromText parses note verifier keys in text form, one per line
// (a file may list the axis's old and new log keys after a rotation).
func verifiersFromText(texts ...string) (note.Verifiers, error) {
	var vs []note.Verifier
	for _, t := range texts {
		for line := range strings.Lines(t) {
			if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			v, err := notesig.ParseVerifierKey(line)
			if err != nil {
				return nil, err
			}
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return nil, errors.New("no verifier key")
	}
	return note.VerifierList(vs...), nil
}

// dirLog adapts the store's directory log to directory.ChangeLog.
type dirLog struct{ l *boltstore.DirectoryLog }

func (d dirLog) Append(ctx context.Context, version int64, change []byte) error {
	return d.l.Append(ctx, version, change)
}

func (d dirLog) Since(ctx context.Context, version int64, limit int) ([]struct {
	Version int64
	Change  []byte
}, error) {
	recs, err := d.l.Since(ctx, version, limit)
	if err != nil {
		return nil, err
	}
	out := make([]struct {
		Version int64
		Change  []byte
	}, len(recs))
	for i, r := range recs {
		out[i].Version, out[i].Change = r.Version, r.Change
	}
	return out, nil
}

// adminOnly lets through requests with an admin bearer token.
func (n *axisNode) adminOnly(h http.Handler) http.Handler {
	var hashes [][32]byte
	for _, x := range n.cfg.Directory.AdminTokens {
		var b [32]byte
		if _, err := hex.Decode(b[:], []byte(x)); err == nil && len(x) == 64 {
			hashes = append(hashes, b)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(token))
		allowed := 0
		for _, h := range hashes {
			allowed |= subtle.ConstantTimeCompare(sum[:], h[:])
		}
		if !ok || allowed == 0 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="truc-axis-admin"`)
			http.Error(w, "an admin bearer token is required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// letter answers GET /admin/v1/letters?key=ORGANID/DOCUMENTID: every
// ledger entry of that root document and, per recipient, the delivery state
// and the full status timeline.
func (n *axisNode) letter(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	if _, _, err := bus.ParseRootKey(key); err != nil {
		http.Error(w, "key: "+err.Error(), http.StatusBadRequest)
		return
	}
	entries, err := n.store.Ledger().ByKey(r.Context(), key)
	if err != nil {
		n.log.Error("axis: reading the ledger", "key", key, "err", err)
		http.Error(w, "the ledger cannot be read now", http.StatusServiceUnavailable)
		return
	}
	if len(entries) == 0 {
		http.Error(w, "no letter with that key", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Key        string               `json:"key"`
		Entries    []bus.Entry          `json:"entries"`
		Recipients []bus.RecipientState `json:"recipients"`
	}{key, entries, bus.Timeline(entries)})
}
