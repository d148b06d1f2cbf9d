package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"truc.vn/truc/signing/demopki"
)

// TestVXPSection checks the vxp: section of the edge config as the edge
// reads it: strictly, with secrets from files or the environment, and
// errors naming the setting.
func TestVXPSection(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "dms.secret"), "a-secret-of-thirty-two-bytes-0001\n")
	writeTestFile(t, filepath.Join(dir, "short.secret"), "short\n")
	t.Setenv("TRUC_TEST_VXP_SECRET", "a-secret-from-the-environment-0002")
	const system = "    - id: vxp.hanoi.01\n      organ_ids: [000.00.00.H26]\n"
	tests := []struct {
		name, body string
		want       string // a substring of the error; "" for none
		enabled    bool
	}{
		{"absent", "", "", false},
		{"a secret file", "vxp:\n  systems:\n" + system + "      secret_file: dms.secret\n      parent_codes: [000.00.00.H26]\n", "", true},
		{"a secret in the environment", "vxp:\n  path_prefix: /api/vxp\n  systems:\n" + system + "      secret_env: TRUC_TEST_VXP_SECRET\n", "", true},
		{"a secret in the file itself", "vxp:\n  systems:\n" + system + "      secret: a-secret-of-thirty-two-bytes-0001\n", "field secret not found", false},
		{"no secret", "vxp:\n  systems:\n" + system, "vxp.systems[0].secret: empty", false},
		{"a missing secret file", "vxp:\n  systems:\n" + system + "      secret_file: nowhere.secret\n", "vxp.systems[0].secret_file", false},
		{"an unset variable", "vxp:\n  systems:\n" + system + "      secret_env: TRUC_TEST_VXP_UNSET\n", "vxp.systems[0].secret_env", false},
		{"a short secret", "vxp:\n  systems:\n" + system + "      secret_file: short.secret\n", "vxp.systems[0].secret: shorter", false},
		{"no OrganId", "vxp:\n  systems:\n    - id: vxp.hanoi.01\n      secret_file: dms.secret\n", "vxp.systems[0].organ_ids", false},
		{"a bad OrganId", "vxp:\n  systems:\n    - id: vxp.hanoi.01\n      secret_file: dms.secret\n      organ_ids: [000.00/00.H26]\n", "vxp.systems[0].organ_ids[0]", false},
		{"a prefix without a slash", "vxp:\n  path_prefix: vxp\n  systems:\n" + system + "      secret_file: dms.secret\n", "vxp.path_prefix", false},
		{"a trailing slash", "vxp:\n  path_prefix: /vxp/\n  systems:\n" + system + "      secret_file: dms.secret\n", "vxp.path_prefix", false},
		{"the root", "vxp:\n  path_prefix: /\n  systems:\n" + system + "      secret_file: dms.secret\n", "vxp.path_prefix", false},
		{"under /v1", "vxp:\n  path_prefix: /v1/vxp\n  systems:\n" + system + "      secret_file: dms.secret\n", "under the edge's own /v1", false},
		{"a prefix and no system", "vxp:\n  path_prefix: /vxp\n", "vxp.systems: at least one", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.NewReplacer(" ", "-", "/", "_").Replace(tc.name)+".yaml")
			writeTestFile(t, path, "x: 1\n"+tc.body)
			var cfg struct {
				X   int        `yaml:"x"`
				VXP vxpSection `yaml:"vxp"`
			}
			err := loadConfigFile(path, &cfg)
			if err == nil {
				cfg.VXP.resolve(path)
				err = errors.Join(cfg.VXP.validate()...)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v; want one naming %q", err, tc.want)
			case tc.want == "" && cfg.VXP.enabled() != tc.enabled:
				t.Fatalf("enabled = %v", cfg.VXP.enabled())
			}
		})
	}
}

// TestEdgeCheckConfigVXP runs `truc edge -check-config` on a demo edge
// config with a vxp: section: it passes, and fails naming the setting
// once the secret file is gone.
func TestEdgeCheckConfigVXP(t *testing.T) {
	dir := t.TempDir()
	m, err := devInit(dir, devOptions{Edges: 1, Agencies: 2, Host: "127.0.0.1", BasePort: 20000, KeyType: demopki.ECDSAP256, Prefix: "truc"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, m.Edges[0].Config)
	addVXPSection(t, path, vxpTestSystem{ID: "vxp.vpcp.01", Secret: "vpcp-dms-secret-0123456789abcdef", Organs: []string{"000.00.00.G22"}})
	var out, errOut bytes.Buffer
	if err := runEdge(context.Background(), []string{"--config", path, "-check-config"}, &out, &errOut); err != nil {
		t.Fatalf("check-config: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), ": ok") {
		t.Errorf("output %q", out.String())
	}
	if err := os.Remove(filepath.Join(dir, "secrets", "vxp.vpcp.01.secret")); err != nil {
		t.Fatal(err)
	}
	err = runEdge(context.Background(), []string{"--config", path, "-check-config"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "vxp.systems[0].secret_file") {
		t.Fatalf("check-config without the secret file: %v", err)
	}
}
