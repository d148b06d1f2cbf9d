package webhook

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"truc.vn/truc/edoc"
)

// Defaults applied to zero Config and Subscription fields.
const (
	DefaultConcurrency   = 4
	DefaultKeepDelivered = 7 * 24 * time.Hour
	DefaultLockTimeout   = time.Second
	DefaultMaxAttempts   = 30
	DefaultBackoffBase   = time.Second
	DefaultBackoffMax    = 10 * time.Minute
	DefaultTimeout       = 60 * time.Second

	// MinSecretBytes is the shortest HMAC secret accepted: 256 bits.
	MinSecretBytes = 32
	// maxNameLength bounds a subscription name (it prefixes every
	// Delivery-Id).
	maxNameLength = 64
)

// Config is everything Open needs besides the file path and the source.
// Field names in errors are the YAML keys of the edge config's webhooks:
// section.
type Config struct {
	// Subscriptions are the receivers. Names are unique. A subscription
	// removed from the config keeps its state in the file, untouched,
	// until it is configured again.
	Subscriptions []Subscription `yaml:"subscriptions"`
	// Concurrency is the most attempts in flight at once, over all
	// subscriptions. Default 4; each attempt holds one package in memory
	// (up to the edge's package cap) and its JSON envelope (4/3 of it).
	Concurrency int `yaml:"concurrency"`
	// KeepDelivered is how long a delivered delivery stays listable
	// before it is purged. Default 7 days. Purging never lets an item be
	// delivered again: the cursor only moves forward.
	KeepDelivered time.Duration `yaml:"keep_delivered"`
	// LockTimeout is how long Open waits for another process to release
	// the file before it fails with ErrInUse. Default 1s.
	LockTimeout time.Duration `yaml:"lock_timeout"`

	// Transport, when set, carries every POST instead of a direct
	// connection per subscription (Subscription.RootCAs then does not
	// apply): for a forward proxy, or tests.
	Transport http.RoundTripper `yaml:"-"`
	// Logger receives operational events (never package contents or
	// secrets). Nil discards them.
	Logger *slog.Logger `yaml:"-"`
	// Hooks observe the dispatcher, for metrics. Optional.
	Hooks Hooks `yaml:"-"`
}

// Subscription is one receiver: a DMS URL that gets every inbox item
// addressed to its OrganIds.
type Subscription struct {
	// Name identifies the subscription; it is the first part of every
	// Delivery-Id, so renaming a subscription starts it afresh (every item
	// still in the inbox is delivered again under new IDs). IsName: 1–64
	// ASCII letters, digits, '_' or '-', starting with a letter or digit.
	Name string `yaml:"name"`
	// URL receives the POSTs: http or https. Redirects are not followed
	// (a 3xx is a failed attempt).
	URL string `yaml:"url"`
	// Secret is the HMAC-SHA256 key of Webhook-Signature, at least
	// MinSecretBytes bytes. The edge config reads it from a file or an
	// environment variable.
	Secret []byte `yaml:"-"`
	// OrganIDs are the agencies whose inbox items go to this URL: an item
	// is delivered when one of its recipients is among them. At least one.
	OrganIDs []string `yaml:"organ_ids"`
	// Client names the API client (REST token name) that may list and
	// retry this subscription's deliveries. Required.
	Client string `yaml:"client"`
	// MaxAttempts is how many attempts a delivery gets before it is
	// failed (and its document blocked until Retry). Default 30: with the
	// default back-off, about four hours.
	MaxAttempts int `yaml:"max_attempts"`
	// Backoff spaces the attempts of one delivery.
	Backoff Backoff `yaml:"backoff"`
	// Timeout bounds one attempt, from connecting to reading the status
	// line. Default 60s: a 16 MiB package over a slow link.
	Timeout time.Duration `yaml:"timeout"`
	// KeepUntaken leaves delivered items untaken: by default a delivered
	// item is taken for OrganIDs (Source.Take), which makes the edge send
	// status 01 for a document. Set it when the DMS takes items itself
	// through the API.
	KeepUntaken bool `yaml:"-"`
	// RootCAs verify an https receiver; nil means the system roots.
	RootCAs *x509.CertPool `yaml:"-"`
}

// Backoff is exponential back-off with jitter: the wait after attempt n
// (1-based) is d/2 plus a random part of d/2, where d = min(Max, Base ×
// 2^(n-1)).
type Backoff struct {
	Base time.Duration `yaml:"base"` // default 1s
	Max  time.Duration `yaml:"max"`  // default 10m
}

// Hooks are called as the dispatcher works; each may be nil. They must
// not block.
type Hooks struct {
	// Attempt: one POST ended; ok means a 2xx (and the item taken).
	Attempt func(subscription string, ok bool, took time.Duration)
	// Delivered: a delivery succeeded after attempts attempts.
	Delivered func(subscription string, attempts int)
	// Failed: a delivery used its last attempt and is now failed.
	Failed func(subscription string)
}

func (c *Config) setDefaults() {
	setDefault(&c.Concurrency, DefaultConcurrency)
	setDefault(&c.KeepDelivered, DefaultKeepDelivered)
	setDefault(&c.LockTimeout, DefaultLockTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	for i := range c.Subscriptions {
		s := &c.Subscriptions[i]
		setDefault(&s.MaxAttempts, DefaultMaxAttempts)
		setDefault(&s.Backoff.Base, DefaultBackoffBase)
		setDefault(&s.Backoff.Max, DefaultBackoffMax)
		setDefault(&s.Timeout, DefaultTimeout)
	}
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate checks c with defaults applied and returns every problem
// found, each naming its field and the rule.
func (c Config) Validate() error {
	c.Subscriptions = append([]Subscription(nil), c.Subscriptions...)
	c.setDefaults()
	return c.validate()
}

func (c *Config) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		bad("concurrency", "must be 1–256, got %d", c.Concurrency)
	}
	if c.KeepDelivered < time.Minute {
		bad("keep_delivered", "at least 1m, got %s", c.KeepDelivered)
	}
	if c.LockTimeout < 0 {
		bad("lock_timeout", "must not be negative, got %s", c.LockTimeout)
	}
	if len(c.Subscriptions) == 0 {
		bad("subscriptions", "at least one subscription is required")
	}
	names := map[string]int{}
	for i, s := range c.Subscriptions {
		f := fmt.Sprintf("subscriptions[%d]", i)
		if !IsName(s.Name) {
			bad(f+".name", "%q is not a subscription name: 1–%d ASCII letters, digits, '_' or '-', starting with a letter or digit", clip(s.Name), maxNameLength)
		} else if j, dup := names[s.Name]; dup {
			bad(f+".name", "%q is also subscriptions[%d].name", s.Name, j)
		} else {
			names[s.Name] = i
		}
		if err := checkURL(s.URL); err != nil {
			bad(f+".url", "%v", err)
		}
		if len(s.Secret) < MinSecretBytes {
			bad(f+".secret", "at least %d bytes, got %d", MinSecretBytes, len(s.Secret))
		}
		if len(s.OrganIDs) == 0 {
			bad(f+".organ_ids", "at least one OrganId is required")
		}
		seen := map[string]int{}
		for j, id := range s.OrganIDs {
			g := fmt.Sprintf("%s.organ_ids[%d]", f, j)
			if !edoc.IsOrganID(id) {
				bad(g, "%q is not an OrganId (dot-separated groups of letters and digits, at most %d characters)", clip(id), edoc.MaxOrganIDLength)
			} else if k, dup := seen[id]; dup {
				bad(g, "%q is also organ_ids[%d]", id, k)
			} else {
				seen[id] = j
			}
		}
		if s.Client == "" {
			bad(f+".client", "required: the API token name that may list and retry its deliveries")
		}
		if s.MaxAttempts < 1 || s.MaxAttempts > 1000 {
			bad(f+".max_attempts", "must be 1–1000, got %d", s.MaxAttempts)
		}
		if s.Backoff.Base < 10*time.Millisecond {
			bad(f+".backoff.base", "at least 10ms, got %s", s.Backoff.Base)
		}
		if s.Backoff.Max < s.Backoff.Base || s.Backoff.Max > 24*time.Hour {
			bad(f+".backoff.max", "from backoff.base (%s) to 24h, got %s", s.Backoff.Base, s.Backoff.Max)
		}
		if s.Timeout < 100*time.Millisecond || s.Timeout > time.Hour {
			bad(f+".timeout", "must be 100ms–1h, got %s", s.Timeout)
		}
	}
	return errors.Join(errs...)
}

// IsName reports whether s is a valid subscription name: 1–64 ASCII
// letters, digits, '_' or '-', starting with a letter or digit (no '.',
// which separates the name from the item ID in a Delivery-Id).
func IsName(s string) bool {
	if s == "" || len(s) > maxNameLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !alnum && (i == 0 || c != '_' && c != '-') {
			return false
		}
	}
	return true
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", clip(s))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("an http or https URL, got %q", clip(s))
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", clip(s))
	}
	if u.User != nil {
		return errors.New("must not carry credentials (user:password@): the body is authenticated with the HMAC secret")
	}
	if u.Fragment != "" {
		return fmt.Errorf("%q has a fragment", clip(s))
	}
	return nil
}

// clip shortens hostile input before it goes into an error message.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
