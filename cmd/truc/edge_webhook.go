package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/webhook"
)

// webhookSection is the edge config's webhooks: section: the DMS URLs the
// edge pushes its inbox to (package webhook). No subscriptions: no pushes.
//
//	webhooks:
//	  concurrency: 4          # attempts in flight, all subscriptions together
//	  keep_delivered: 168h    # delivered deliveries stay listable this long
//	  subscriptions:
//	    - name: dms-hanoi
//	      url: https://dms.hanoi.gov.vn/truc/webhook
//	      secret_file: /etc/truc/webhook-dms-hanoi.secret   # or secret_env
//	      organ_ids: [000.00.00.H26]
//	      client: dms-ubnd-hanoi   # the api.tokens name that lists and retries them
//	      max_attempts: 30
//	      backoff: {base: 1s, max: 10m}
//	      timeout: 60s
//	      take_on_delivery: true   # default: a delivered document is taken (status 01)
//	      ca_file: /etc/truc/dms-ca.pem   # optional, for an https URL under a private CA
type webhookSection struct {
	Concurrency   int                   `yaml:"concurrency"`
	KeepDelivered time.Duration         `yaml:"keep_delivered"`
	Subscriptions []webhookSubscription `yaml:"subscriptions"`

	// dispatcher is the running state once the edge opened it (not
	// config): webhookOptions opens it, startWebhooks runs it.
	dispatcher *webhook.Dispatcher
}

// webhookSubscription is one entry of webhooks.subscriptions.
type webhookSubscription struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// SecretFile or SecretEnv holds the HMAC secret: the file's content
	// or the variable's value without surrounding white space, used as
	// bytes (at least 32, e.g. `openssl rand -hex 32`).
	SecretFile string   `yaml:"secret_file"`
	SecretEnv  string   `yaml:"secret_env"`
	OrganIDs   []string `yaml:"organ_ids"`
	// Client is the api.tokens name whose DMS sees these deliveries in
	// GET /v1/webhooks/deliveries and may retry them; its organ_ids must
	// cover the subscription's.
	Client      string          `yaml:"client"`
	MaxAttempts int             `yaml:"max_attempts"`
	Backoff     webhook.Backoff `yaml:"backoff"`
	Timeout     time.Duration   `yaml:"timeout"`
	// TakeOnDelivery (default true): a delivered item is taken for the
	// subscription's agencies, and for a document the edge sends 01.
	// false when the DMS takes items itself through the API.
	TakeOnDelivery *bool `yaml:"take_on_delivery"`
	// CAFile holds PEM certificates that verify an https URL instead of
	// the system roots.
	CAFile string `yaml:"ca_file"`
}

func (s *webhookSection) resolve(path string) {
	for i := range s.Subscriptions {
		s.Subscriptions[i].SecretFile = resolvePath(path, s.Subscriptions[i].SecretFile)
		s.Subscriptions[i].CAFile = resolvePath(path, s.Subscriptions[i].CAFile)
	}
}

func (s *webhookSection) configured() bool { return len(s.Subscriptions) > 0 }

// placeholderSecret stands in for the secrets in the checks that read no
// file.
var placeholderSecret = make([]byte, webhook.MinSecretBytes)

// validate checks what needs no file or other section.
func (s *webhookSection) validate() []error {
	if !s.configured() {
		if s.Concurrency != 0 || s.KeepDelivered != 0 {
			return []error{errors.New("webhooks.subscriptions: at least one subscription, or no webhooks section")}
		}
		return nil
	}
	var errs []error
	for i, sub := range s.Subscriptions {
		if (sub.SecretFile == "") == (sub.SecretEnv == "") {
			errs = append(errs, fmt.Errorf("webhooks.subscriptions[%d]: exactly one of secret_file and secret_env is required", i))
		}
	}
	cfg, _ := s.config(func(webhookSubscription) ([]byte, error) { return placeholderSecret, nil }, nil)
	if err := cfg.Validate(); err != nil {
		errs = append(errs, prefixErrors("webhooks.", err)...)
	}
	return errs
}

// prefixErrors splits a joined error and prefixes each part.
func prefixErrors(prefix string, err error) []error {
	var parts []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	} else {
		parts = []error{err}
	}
	out := make([]error, len(parts))
	for i, e := range parts {
		out[i] = fmt.Errorf("%s%w", prefix, e)
	}
	return out
}

// config builds the package config, reading each secret with secret and
// each CA file with roots (nil: none read).
func (s *webhookSection) config(secret func(webhookSubscription) ([]byte, error), roots func(string) (*x509.CertPool, error)) (webhook.Config, error) {
	cfg := webhook.Config{Concurrency: s.Concurrency, KeepDelivered: s.KeepDelivered}
	for i, sub := range s.Subscriptions {
		key, err := secret(sub)
		if err != nil {
			return cfg, fmt.Errorf("webhooks.subscriptions[%d] (%s): secret: %w", i, sub.Name, err)
		}
		ws := webhook.Subscription{
			Name: sub.Name, URL: sub.URL, Secret: key, OrganIDs: sub.OrganIDs, Client: sub.Client,
			MaxAttempts: sub.MaxAttempts, Backoff: sub.Backoff, Timeout: sub.Timeout,
			KeepUntaken: sub.TakeOnDelivery != nil && !*sub.TakeOnDelivery,
		}
		if sub.CAFile != "" && roots != nil {
			if ws.RootCAs, err = roots(sub.CAFile); err != nil {
				return cfg, fmt.Errorf("webhooks.subscriptions[%d].ca_file: %w", i, err)
			}
		}
		cfg.Subscriptions = append(cfg.Subscriptions, ws)
	}
	return cfg, nil
}

// readWebhookSecret reads a subscription's secret from its file or
// environment variable.
func readWebhookSecret(sub webhookSubscription) ([]byte, error) {
	v, err := readToken(sub.SecretFile, sub.SecretEnv)
	if err != nil {
		return nil, err
	}
	if len(v) < webhook.MinSecretBytes {
		return nil, fmt.Errorf("%d bytes, at least %d (e.g. openssl rand -hex 32)", len(v), webhook.MinSecretBytes)
	}
	return []byte(v), nil
}

func readCAPool(path string) (*x509.CertPool, error) {
	certs, err := readCertificates(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// check reads the secrets and CA files and checks each subscription
// against the API tokens; -check-config runs it, and so does the start.
func (s *webhookSection) check(api restapi.Config) (webhook.Config, error) {
	cfg, err := s.config(readWebhookSecret, readCAPool)
	if err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, errors.Join(prefixErrors("webhooks.", err)...)
	}
	var errs []error
	for i, sub := range s.Subscriptions {
		j := slices.IndexFunc(api.Tokens, func(t restapi.Token) bool { return t.Name == sub.Client })
		if j < 0 {
			errs = append(errs, fmt.Errorf("webhooks.subscriptions[%d].client: %q is not an api.tokens name", i, sub.Client))
			continue
		}
		for k, o := range sub.OrganIDs {
			if !slices.Contains(api.Tokens[j].OrganIDs, o) {
				errs = append(errs, fmt.Errorf("webhooks.subscriptions[%d].organ_ids[%d]: %s is not among the organ_ids of token %q, which could then not see its deliveries", i, k, o, sub.Client))
			}
		}
	}
	return cfg, errors.Join(errs...)
}

// checkWebhooks is the -check-config part of the webhooks section.
func checkWebhooks(cfg *edgeFile) error {
	if !cfg.Webhooks.configured() {
		return nil
	}
	_, err := cfg.Webhooks.check(cfg.API)
	return err
}

// webhookOptions opens the webhook dispatcher, if configured, and returns
// the API options that serve its deliveries (GET
// /v1/webhooks/deliveries, POST /v1/webhooks/deliveries/{id}/retry).
// startEdge calls it before restapi.New; startWebhooks then runs the
// dispatcher.
func (n *edgeNode) webhookOptions() ([]restapi.Option, error) {
	d, err := n.openWebhooks()
	if err != nil || d == nil {
		return nil, err
	}
	return []restapi.Option{restapi.WithWebhooks(webhookAdmin{d})}, nil
}

func (n *edgeNode) openWebhooks() (*webhook.Dispatcher, error) {
	s := &n.cfg.Webhooks
	if !s.configured() || s.dispatcher != nil {
		return s.dispatcher, nil
	}
	cfg, err := s.check(n.cfg.API)
	if err != nil {
		return nil, err
	}
	cfg.Logger = n.log
	for _, sub := range s.Subscriptions {
		if sub.SecretFile != "" {
			if st, err := os.Stat(sub.SecretFile); err == nil && st.Mode().Perm()&0o077 != 0 {
				n.log.Warn("webhook: the secret file is readable by other users; chmod 600 it", "file", sub.SecretFile, "mode", st.Mode().Perm().String())
			}
		}
		if insecureRemote(sub.URL) {
			n.log.Warn("webhook: plain http to another host: packages travel unencrypted (the HMAC only protects their integrity); use https", "subscription", sub.Name)
		}
		for _, o := range sub.OrganIDs {
			if a, ok := n.dir.Agency(o); !ok || a.Edge != n.cfg.ID {
				n.log.Warn("webhook: an agency of the subscription is not served by this edge in the directory; nothing arrives for it", "subscription", sub.Name, "organ_id", o)
			}
		}
	}
	d, err := webhook.Open(filepath.Join(n.cfg.DataDir, "webhooks.db"), n.edge, cfg)
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	s.dispatcher = d
	return d, nil
}

// startWebhooks returns the dispatcher's run function (opening it if
// webhookOptions did not), or nil when no subscription is configured. The
// run function closes the state file when it returns.
func (n *edgeNode) startWebhooks(ctx context.Context) (run func(context.Context) error, err error) {
	d, err := n.openWebhooks()
	if err != nil || d == nil {
		return nil, err
	}
	n.log.Info("webhook: pushing the inbox", "subscriptions", d.Subscriptions())
	return func(ctx context.Context) error {
		defer n.closeWebhooks()
		return d.Run(ctx)
	}, nil
}

// closeWebhooks closes the dispatcher's state file, if open. Call it
// when the dispatcher is not running (or has returned).
func (n *edgeNode) closeWebhooks() {
	if d := n.cfg.Webhooks.dispatcher; d != nil {
		_ = d.Close()
		n.cfg.Webhooks.dispatcher = nil
	}
}

// webhookAdmin serves the webhook routes of the REST API over the
// dispatcher.
type webhookAdmin struct{ d *webhook.Dispatcher }

var _ restapi.Webhooks = webhookAdmin{}

func (a webhookAdmin) Deliveries(ctx context.Context, q restapi.WebhookQuery) ([]restapi.WebhookDelivery, error) {
	var subs []string // the subscriptions this client administers
	for _, n := range a.d.Subscriptions() {
		if s, ok := a.d.Subscription(n); ok && s.Client == q.Client {
			subs = append(subs, n)
		}
	}
	if len(q.Organs) == 0 || len(subs) == 0 {
		return nil, nil
	}
	ds, err := a.d.Deliveries(ctx, webhook.Query{Subscriptions: subs, Organs: q.Organs, State: webhook.State(q.State), After: q.After, Limit: q.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]restapi.WebhookDelivery, len(ds))
	for i, d := range ds {
		out[i] = a.convert(d)
	}
	return out, nil
}

func (a webhookAdmin) Delivery(ctx context.Context, id string) (restapi.WebhookDelivery, error) {
	d, err := a.d.Delivery(ctx, id)
	if err != nil {
		return restapi.WebhookDelivery{}, err
	}
	return a.convert(d), nil
}

func (a webhookAdmin) Retry(ctx context.Context, id string) (restapi.WebhookDelivery, error) {
	d, err := a.d.Retry(ctx, id)
	if err != nil {
		return restapi.WebhookDelivery{}, err
	}
	return a.convert(d), nil
}

func (a webhookAdmin) convert(d webhook.Delivery) restapi.WebhookDelivery {
	var where, client string
	if s, ok := a.d.Subscription(d.Subscription); ok {
		where, client = publicURL(s.URL), s.Client
	}
	if client == "" {
		// A subscription no longer configured: nobody administers it.
		client = "\x00"
	}
	return restapi.WebhookDelivery{
		ID: d.ID, Seq: d.Seq, ItemID: d.ItemID, OrganIDs: d.Recipients, URL: where, Client: client,
		State: restapi.WebhookState(d.State), Attempts: d.Attempts, LastError: d.LastError,
		CreatedAt: d.CreatedAt, LastAttemptAt: d.LastAttemptAt, NextAttemptAt: d.NextAttemptAt, DeliveredAt: d.DeliveredAt,
	}
}

// publicURL is a subscription URL as the API shows it: scheme, host and
// path (a query may carry the receiver's own credentials).
func publicURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
