package webhook

import (
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{Subscriptions: []Subscription{{
		Name: "dms-hanoi", URL: "https://dms.hanoi.gov.vn/truc/webhook", Secret: testSecret,
		OrganIDs: []string{organA, organB}, Client: "dms-ubnd-hanoi",
	}}}
}

func TestConfigValidate(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	cases := []struct {
		name   string
		change func(c *Config)
		want   string // the field and the rule
	}{
		{"no subscription", func(c *Config) { c.Subscriptions = nil }, "subscriptions: at least one"},
		{"concurrency", func(c *Config) { c.Concurrency = 1000 }, "concurrency: must be 1–256"},
		{"keep_delivered", func(c *Config) { c.KeepDelivered = time.Second }, "keep_delivered: at least 1m"},
		{"lock_timeout", func(c *Config) { c.LockTimeout = -time.Second }, "lock_timeout: must not be negative"},
		{"name empty", func(c *Config) { c.Subscriptions[0].Name = "" }, "subscriptions[0].name: \"\" is not a subscription name"},
		{"name with a dot", func(c *Config) { c.Subscriptions[0].Name = "dms.hanoi" }, "subscriptions[0].name: \"dms.hanoi\" is not"},
		{"name starts with a dash", func(c *Config) { c.Subscriptions[0].Name = "-dms" }, "subscriptions[0].name: \"-dms\" is not"},
		{"name too long", func(c *Config) { c.Subscriptions[0].Name = strings.Repeat("a", 65) }, "subscriptions[0].name"},
		{"name twice", func(c *Config) { c.Subscriptions = append(c.Subscriptions, c.Subscriptions[0]) }, "subscriptions[1].name: \"dms-hanoi\" is also subscriptions[0].name"},
		{"url scheme", func(c *Config) { c.Subscriptions[0].URL = "ftp://dms/" }, "subscriptions[0].url: an http or https URL"},
		{"url host", func(c *Config) { c.Subscriptions[0].URL = "https:///x" }, "subscriptions[0].url: \"https:///x\" has no host"},
		{"url credentials", func(c *Config) { c.Subscriptions[0].URL = "https://u:p@dms/x" }, "subscriptions[0].url: must not carry credentials"},
		{"url junk", func(c *Config) { c.Subscriptions[0].URL = "https://dms/%zz" }, "subscriptions[0].url: \"https://dms/%zz\" is not a URL"},
		{"secret short", func(c *Config) { c.Subscriptions[0].Secret = []byte("short") }, "subscriptions[0].secret: at least 32 bytes, got 5"},
		{"no organ", func(c *Config) { c.Subscriptions[0].OrganIDs = nil }, "subscriptions[0].organ_ids: at least one"},
		{"bad organ", func(c *Config) { c.Subscriptions[0].OrganIDs = []string{"H26 "} }, "subscriptions[0].organ_ids[0]: \"H26 \" is not an OrganId"},
		{"organ twice", func(c *Config) { c.Subscriptions[0].OrganIDs = []string{organA, organA} }, "subscriptions[0].organ_ids[1]: \"000.00.00.H26\" is also organ_ids[0]"},
		{"no client", func(c *Config) { c.Subscriptions[0].Client = "" }, "subscriptions[0].client: required"},
		{"max_attempts", func(c *Config) { c.Subscriptions[0].MaxAttempts = -1 }, "subscriptions[0].max_attempts: must be 1–1000, got -1"},
		{"backoff base", func(c *Config) { c.Subscriptions[0].Backoff.Base = time.Millisecond }, "subscriptions[0].backoff.base: at least 10ms"},
		{"backoff max below base", func(c *Config) { c.Subscriptions[0].Backoff = Backoff{Base: time.Minute, Max: time.Second} }, "subscriptions[0].backoff.max: from backoff.base (1m0s) to 24h"},
		{"backoff max huge", func(c *Config) { c.Subscriptions[0].Backoff.Max = 48 * time.Hour }, "subscriptions[0].backoff.max"},
		{"timeout", func(c *Config) { c.Subscriptions[0].Timeout = time.Millisecond }, "subscriptions[0].timeout: must be 100ms–1h"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			c.Subscriptions[0].OrganIDs = append([]string(nil), c.Subscriptions[0].OrganIDs...)
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
}

// TestValidateDoesNotChangeTheConfig: Validate applies defaults to a copy.
func TestValidateDoesNotChangeTheConfig(t *testing.T) {
	c := validConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Concurrency != 0 || c.Subscriptions[0].MaxAttempts != 0 || c.Subscriptions[0].Backoff.Base != 0 {
		t.Errorf("Validate changed the caller's config: %+v", c)
	}
}

func TestOpenRefusesAnInvalidConfig(t *testing.T) {
	c := validConfig()
	c.Subscriptions[0].Secret = nil
	if _, err := Open(t.TempDir()+"/w.db", newEdgeSource(t), c); err == nil || !strings.Contains(err.Error(), "subscriptions[0].secret") {
		t.Errorf("Open: %v", err)
	}
	if _, err := Open(t.TempDir()+"/w.db", nil, validConfig()); err == nil {
		t.Errorf("Open without a source: no error")
	}
}
