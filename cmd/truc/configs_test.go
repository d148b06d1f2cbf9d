package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExampleConfigs parses and validates the example axis and edge
// configs in configs/ strictly (unknown keys fail).
func TestExampleConfigs(t *testing.T) {
	axis, err := loadAxisConfig(filepath.Join("..", "..", "configs", "axis.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if axis.OrganID == "" || axis.Kafka.Topics.Replication != 3 || axis.Kafka.Topics.MinInsyncReplicas != 2 {
		t.Errorf("axis example: %+v", axis)
	}
	// The example names its secrets by environment variable.
	t.Setenv("TRUC_VXP_HANOI_01_SECRET", "a VXP secret of at least 16 bytes")
	t.Setenv("TRUC_WEBHOOK_DMS_HANOI_SECRET", "a webhook secret of at least thirty-two bytes")
	edge, err := loadEdgeConfig(filepath.Join("..", "..", "configs", "edge.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if edge.ID != "hanoi" || len(edge.API.Tokens) != 1 {
		t.Errorf("edge example: %+v", edge)
	}
	if err := checkWebhooks(edge); err != nil {
		t.Errorf("edge example: %v", err)
	}
}

// TestConfigErrors checks that a config breaking a rule names the field.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body, want string
	}{
		{"unknown key", "organ_id: 000.00.00.G22\nlisten: x\nbogus: 1\n", "field bogus not found"},
		{"no organ_id", "data_dir: d\nlisten: 127.0.0.1:1\nkafka: {brokers: [k:9092]}\ndirectory: {admin_tokens_sha256: [x]}\ntrust: {roots: [r]}\nseal: {key: k}\n", "organ_id"},
		{"no roots", "organ_id: 000.00.00.G22\ndata_dir: d\nlisten: 127.0.0.1:1\nkafka: {brokers: [k:9092]}\ndirectory: {admin_tokens_sha256: [x]}\nseal: {key: k}\n", "trust.roots"},
		{"two keys", "organ_id: 000.00.00.G22\ndata_dir: d\nlisten: 127.0.0.1:1\nkafka: {brokers: [k:9092]}\ndirectory: {admin_tokens_sha256: [x]}\ntrust: {roots: [r]}\nseal: {key: k, p12: p}\n", "seal: exactly one"},
		{"slow checkpoints", "organ_id: 000.00.00.G22\ndata_dir: d\nlisten: 127.0.0.1:1\nkafka: {brokers: [k:9092]}\ndirectory: {admin_tokens_sha256: [x]}\ntrust: {roots: [r]}\nseal: {key: k}\ncheckpoint_every: 5s\n", "checkpoint_every"},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name+".yaml")
		writeTestFile(t, path, c.body)
		_, err := loadAxisConfig(path)
		if err == nil || !contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error naming %q", c.name, err, c.want)
		}
	}
}

func writeTestFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestInsecureRemote(t *testing.T) {
	for u, want := range map[string]bool{
		"http://127.0.0.1:8701":        false,
		"http://localhost:8701":        false,
		"http://[::1]:8701":            false,
		"https://axis.truc.gov.vn":     false,
		"http://axis.truc.gov.vn:8443": true,
		"http://10.0.0.10:8443":        true,
	} {
		if got := insecureRemote(u); got != want {
			t.Errorf("insecureRemote(%q) = %v, want %v", u, got, want)
		}
	}
}
