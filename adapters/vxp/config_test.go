package vxp

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func validConfig() Config {
	return Config{Systems: []System{{
		ID: "vxp.saas.02", Secret: "0123456789abcdef0123",
		OrganIDs: []string{"000.00.01.H53"}, ParentCodes: []string{"000.00.00.H53"},
	}}}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		field  string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no systems", func(c *Config) { c.Systems = nil }, "systems"},
		{"empty id", func(c *Config) { c.Systems[0].ID = "" }, "systems[0].id"},
		{"id with a space", func(c *Config) { c.Systems[0].ID = "vxp saas" }, "systems[0].id"},
		{"duplicate id", func(c *Config) { c.Systems = append(c.Systems, c.Systems[0]) }, "systems[1].id"},
		{"no secret", func(c *Config) { c.Systems[0].Secret = "" }, "systems[0].secret"},
		{"short secret", func(c *Config) { c.Systems[0].Secret = "short" }, "systems[0].secret"},
		{"secret not UTF-8", func(c *Config) { c.Systems[0].Secret = "0123456789abcdef\xff" }, "systems[0].secret"},
		{"no OrganIds", func(c *Config) { c.Systems[0].OrganIDs = nil }, "systems[0].organ_ids"},
		{"bad OrganId", func(c *Config) { c.Systems[0].OrganIDs = append(c.Systems[0].OrganIDs, "000..H53") }, "systems[0].organ_ids[1]"},
		{"bad parent code", func(c *Config) { c.Systems[0].ParentCodes = []string{"H53 "} }, "systems[0].parent_codes[0]"},
		{"all-zero parent code", func(c *Config) { c.Systems[0].ParentCodes = []string{"000.00.00"} }, "systems[0].parent_codes[0]"},
		{"no parent codes is fine", func(c *Config) { c.Systems[0].ParentCodes = nil }, ""},
		{"body cap too small", func(c *Config) { c.MaxBodyBytes = 10 }, "max_body_bytes"},
		{"small cap above the big one", func(c *Config) { c.MaxBodyBytes = 4096; c.MaxSmallBodyBytes = 8192 }, "max_small_body_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("err = %v, want a ConfigError on %s", err, tt.field)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := validConfig()
	c.setDefaults()
	if c.MaxBodyBytes != 16<<20+64<<10 || c.MaxSmallBodyBytes != 64<<10 {
		t.Fatalf("defaults %d %d", c.MaxBodyBytes, c.MaxSmallBodyBytes)
	}
}

func TestResolveSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("from-a-file-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VXP_SECRET": "from-the-environment-01"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	c := Config{Systems: []System{{ID: "a", SecretFile: file}, {ID: "b", SecretEnv: "VXP_SECRET"}, {ID: "c", Secret: "kept-as-it-is-0000"}}}
	if err := c.ResolveSecrets(lookup); err != nil {
		t.Fatal(err)
	}
	if c.Systems[0].Secret != "from-a-file-0123456789" || c.Systems[1].Secret != "from-the-environment-01" || c.Systems[2].Secret != "kept-as-it-is-0000" {
		t.Fatalf("secrets %q %q %q", c.Systems[0].Secret, c.Systems[1].Secret, c.Systems[2].Secret)
	}

	for name, sys := range map[string]System{
		"both":          {SecretFile: file, SecretEnv: "VXP_SECRET"},
		"missing file":  {SecretFile: filepath.Join(dir, "absent")},
		"unset env var": {SecretEnv: "VXP_UNSET"},
	} {
		c := Config{Systems: []System{sys}}
		var ce *ConfigError
		if err := c.ResolveSecrets(lookup); !errors.As(err, &ce) || !strings.HasPrefix(ce.Field, "systems[0].secret_") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
