package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"truc.vn/truc/adapters/kafka/embedded"
	"truc.vn/truc/edoc"
	"truc.vn/truc/signing/demopki"
)

const devSynopsis = "dev [--data DIR] [--edges N] [--agencies N] [--port P] [--init-only]"

const devExplain = `Run the whole exchange on this machine: the embedded Kafka-protocol broker,
the axis and several demo agencies' edges, in one process. The first start
creates a demo PKI (a root and an issuing CA shaped like the government's),
the directory of demo agencies, API tokens and the config files under the
data directory; later starts reuse them, and resume with nothing lost.
Ctrl-C stops everything cleanly.

The config files it writes are the ones "truc broker", "truc axis --config"
and "truc edge --config" read: a pilot can run the same nodes as separate
processes from them.

Example:
  truc dev
  truc dev --data /tmp/truc-demo --edges 4 --agencies 30
  truc dev --init-only --data /tmp/w     # write the demo world and exit`

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", devSynopsis, devExplain, stderr)
	dataDir := fs.String("data", "truc-data", "the data `dir`: PKI, directory, configs, stores, broker data")
	edges := fs.Int("edges", 3, "number of demo edges (first start only)")
	agencies := fs.Int("agencies", 25, "agencies per edge (first start only)")
	host := fs.String("host", "127.0.0.1", "the address every node listens on (first start only)")
	port := fs.Int("port", 8700, "base `port`: the broker listens on it, the axis on +1, the edges on +2... (first start only)")
	ecdsa := fs.Bool("ecdsa", false, "give the demo PKI P-256 keys instead of RSA-2048 (first start only)")
	fast := fs.Bool("fast", false, "short timeouts (redelivery, resend, consumer sessions), for tests (first start only)")
	integrations := fs.Bool("integrations", true, "give every edge a VXP-compatible endpoint and a drop folder (first start only)")
	initOnly := fs.Bool("init-only", false, "create the demo world and exit")
	logLevel := fs.String("log-level", "warn", "log `level` of the nodes: debug, info, warn, error")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("dev takes no arguments")
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	m, err := readDevManifest(dir)
	if errors.Is(err, os.ErrNotExist) {
		key := demopki.RSA2048
		if *ecdsa {
			key = demopki.ECDSAP256
		}
		fmt.Fprintf(stderr, "truc dev: creating a demo world in %s (PKI, %d edges × %d agencies)...\n", dir, *edges, *agencies)
		m, err = devInit(dir, devOptions{Edges: *edges, Agencies: *agencies, Host: *host, BasePort: *port, KeyType: key, Prefix: "truc", FastTimes: *fast, Integrations: *integrations})
		if err != nil {
			return err
		}
		if err := writeExampleLetter(dir, m); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if *initOnly {
		fmt.Fprintf(stdout, "demo world in %s\n", dir)
		return nil
	}
	logger, err := newLogger(logConfig{Level: *logLevel}, stderr)
	if err != nil {
		return usageError(err.Error())
	}
	return devRun(ctx, dir, m, logger, stdout, stderr)
}

func readDevManifest(dir string) (*devManifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, devManifestFile))
	if err != nil {
		return nil, err
	}
	var m devManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, devManifestFile), err)
	}
	return &m, nil
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}

// refreshDevCRLs issues fresh CRLs, so that a demo world reused after a
// week still verifies.
func refreshDevCRLs(dir string) error {
	ca, err := demopki.Open(filepath.Join(dir, "pki"), demopki.OpenOptions{})
	if err != nil {
		return err
	}
	if _, err := ca.CRL(time.Now()); err != nil {
		return err
	}
	_, err = ca.RootCRL(time.Now())
	return err
}

// devWorld is a running demo: broker, axis and edges in this process.
type devWorld struct {
	broker *embedded.Broker
	axis   *axisNode
	edges  []*edgeNode

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errc   chan error
}

func devRun(ctx context.Context, dir string, m *devManifest, log *slog.Logger, stdout, stderr io.Writer) error {
	w, err := startDevWorld(ctx, dir, m, log, stderr)
	if err != nil {
		return err
	}
	printDevWelcome(stdout, dir, m)
	err = w.wait(ctx)
	w.close()
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "truc dev: stopped cleanly; run it again to resume")
	return nil
}

// startDevWorld refreshes the demo CRLs, starts the broker, the axis and
// every edge of m in this process, and returns once all of them serve.
// Stop it with stop (or by cancelling ctx), then close.
func startDevWorld(ctx context.Context, dir string, m *devManifest, log *slog.Logger, stderr io.Writer) (w *devWorld, err error) {
	if err := refreshDevCRLs(dir); err != nil {
		return nil, fmt.Errorf("refreshing the demo CRLs: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	world := &devWorld{cancel: cancel, errc: make(chan error, 2+len(m.Edges))}
	w = world
	defer func() {
		if err != nil {
			world.stop()
			world.close()
		}
	}()
	w.broker, err = embedded.Start(embedded.Config{
		DataDir:                filepath.Join(dir, "data", "broker"),
		Listen:                 []string{m.Broker},
		GroupMinSessionTimeout: time.Second,
	}, log.With("node", "broker"))
	if err != nil {
		return nil, fmt.Errorf("starting the embedded broker on %s: %w", m.Broker, err)
	}
	acfg, err := loadAxisConfig(filepath.Join(dir, m.Axis.Config))
	if err != nil {
		return nil, err
	}
	if w.axis, err = startAxis(ctx, acfg, log.With("node", "axis"), stderr); err != nil {
		return nil, fmt.Errorf("axis: %w", err)
	}
	ready := make(chan struct{})
	w.goRun("axis", func() error { return w.axis.run(ctx, func(net.Addr) { close(ready) }) })
	select {
	case <-ready:
	case <-ctx.Done():
		return nil, w.firstError(ctx)
	}
	// Edges sync the directory from the axis at start: the axis serves now.
	for _, e := range m.Edges {
		ecfg, err := loadEdgeConfig(filepath.Join(dir, e.Config))
		if err != nil {
			return nil, err
		}
		n, err := startEdge(ctx, ecfg, log.With("node", "edge"), stderr)
		if err != nil {
			return nil, fmt.Errorf("edge %s: %w", e.ID, err)
		}
		w.edges = append(w.edges, n)
		ready := make(chan struct{})
		w.goRun("edge "+e.ID, func() error { return n.run(ctx, func(net.Addr) { close(ready) }) })
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, w.firstError(ctx)
		}
	}
	return w, nil
}

func (w *devWorld) goRun(name string, f func() error) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		if err := f(); err != nil {
			w.errc <- fmt.Errorf("%s: %w", name, err)
		}
		w.cancel() // one node stopping stops them all
	}()
}

func (w *devWorld) firstError(ctx context.Context) error {
	w.stop()
	select {
	case err := <-w.errc:
		return err
	default:
		return ctx.Err()
	}
}

// wait blocks until ctx is done or a node fails, stops everything and
// returns the first failure.
func (w *devWorld) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case err := <-w.errc:
		w.stop()
		return err
	}
	w.stop()
	select {
	case err := <-w.errc:
		return err
	default:
		return nil
	}
}

// stop cancels every node and waits for them to return.
func (w *devWorld) stop() {
	if w.cancel != nil {
		w.cancel()
	}
	w.wg.Wait()
}

// edge returns the running edge with id.
func (w *devWorld) edge(id string) *edgeNode {
	for _, e := range w.edges {
		if e.cfg.ID == id {
			return e
		}
	}
	return nil
}

func (w *devWorld) close() {
	for _, e := range w.edges {
		e.close()
	}
	if w.axis != nil {
		w.axis.close()
	}
	if w.broker != nil {
		_ = w.broker.Close()
	}
}

// writeExampleLetter writes examples/letter.xml: a letter from the first
// edge's head agency to the head agency of every other edge.
func writeExampleLetter(dir string, m *devManifest) error {
	if len(m.Edges) < 2 {
		return nil
	}
	from := edoc.Organization{OrganID: m.Edges[0].OrganID, OrganName: devEdgeSpecs[0].Name, OrganAdd: "Hà Nội"}
	var to []edoc.Organization
	for i, e := range m.Edges[1:] {
		to = append(to, edoc.Organization{OrganID: e.OrganID, OrganName: devEdgeSpecs[i+1].Name})
	}
	att := edoc.NewAttachment("cong-van.txt", "text/plain", func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("Kính gửi các cơ quan, đơn vị: đây là công văn thử nghiệm của trục liên thông.\n")), nil
	})
	p, err := edoc.NewDocument(edoc.DocumentSpec{
		From:        from,
		To:          to,
		Code:        edoc.Code{Number: "1", Notation: "VPCP-THỬ"},
		Place:       "Hà Nội",
		TypeName:    "Công văn",
		Subject:     "V/v thử nghiệm trục liên thông văn bản quốc gia",
		Signer:      edoc.SignerInfo{Competence: "KT. BỘ TRƯỞNG, CHỦ NHIỆM", Position: "Phó Chủ nhiệm", FullName: "Nguyễn Văn A"},
		Attachments: []*edoc.Attachment{att},
	})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "examples"), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "examples", "letter.xml"), buf.Bytes(), 0o644)
}

func printDevWelcome(w io.Writer, dir string, m *devManifest) {
	rel := func(p string) string {
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
				return r
			}
		}
		return p
	}
	fmt.Fprintf(w, "truc dev: broker %s, axis %s, %d edges. Data in %s. Ctrl-C stops.\n\n", m.Broker, m.Axis.URL, len(m.Edges), rel(dir))
	for _, e := range m.Edges {
		fmt.Fprintf(w, "  edge %-8s %s  DMS token in %s  (serves %s and its units)\n", e.ID, e.URL, rel(filepath.Join(dir, e.TokenFile)), e.OrganID)
	}
	if fileExists(filepath.Join(dir, devDashboardPasswordFile)) {
		fmt.Fprintf(w, "  dashboard     %s/dashboard/  user admin, password in %s\n", m.Axis.URL, rel(filepath.Join(dir, devDashboardPasswordFile)))
	}
	if len(m.Edges) < 2 {
		return
	}
	s, r := m.Edges[0], m.Edges[1]
	fmt.Fprintf(w, `
Send the example letter from %s (edge %s) to the other edges' head agencies,
and wait until every recipient has it (status 01):

  go run ./cmd/truc send --edge %s --token-file %s --wait 30s %s

Then look at the inbox of edge %s, save the letter and tell the sender it arrived:

  go run ./cmd/truc inbox --edge %s --token-file %s --save /tmp/truc-inbox --ack

The same with curl: POST the package, then GET its timeline:

  curl -s -H "Authorization: Bearer $(cat %s)" -H 'Content-Type: application/xml' \
       --data-binary @%s %s/v1/documents
  curl -s -H "Authorization: Bearer $(cat %s)" %s/v1/documents/ID

Follow its delivery recipient by recipient, and answer it from %s (status 03):

  go run ./cmd/truc track --edge %s --token-file %s --follow ID
  go run ./cmd/truc status --edge %s --token-file %s ITEM 03

Health and metrics: %s/healthz  %s/metrics  (OpenAPI: %s/v1/openapi.json)
`,
		s.OrganID, s.ID,
		s.URL, rel(filepath.Join(dir, s.TokenFile)), rel(filepath.Join(dir, "examples", "letter.xml")),
		r.ID, r.URL, rel(filepath.Join(dir, r.TokenFile)),
		rel(filepath.Join(dir, s.TokenFile)), rel(filepath.Join(dir, "examples", "letter.xml")), s.URL,
		rel(filepath.Join(dir, s.TokenFile)), s.URL,
		r.ID, s.URL, rel(filepath.Join(dir, s.TokenFile)), r.URL, rel(filepath.Join(dir, r.TokenFile)),
		m.Axis.URL, s.URL, s.URL)
	if s.Folder != "" && r.Folder != "" {
		fmt.Fprintf(w, `
Drop folder: a file renamed into %s is signed and sent (then moved to
sent/, or to failed/ with a .error.txt); letters for %s appear in %s:

  cp %s %s/outbox/.letter.tmp && mv %s/outbox/.letter.tmp %s/outbox/letter.xml
`,
			rel(filepath.Join(dir, s.Folder, "outbox")), r.ID, rel(filepath.Join(dir, r.Folder, "inbox")),
			rel(filepath.Join(dir, "examples", "letter.xml")), rel(filepath.Join(dir, s.Folder)), rel(filepath.Join(dir, s.Folder)), rel(filepath.Join(dir, s.Folder)))
	}
	if s.VXPEndpoint != "" {
		fmt.Fprintf(w, `
VXP-compatible API (software written for SDKVXP 2.0.1): service.endpoint %s,
systemid %s, secret in %s.
`, s.VXPEndpoint, s.VXPSystemID, rel(filepath.Join(dir, s.VXPSecretFile)))
	}
}
