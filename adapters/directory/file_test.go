package directory

import (
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"truc.vn/truc/bus"
	"truc.vn/truc/signing"
	"truc.vn/truc/signing/signingtest"
)

func TestParseFile(t *testing.T) {
	w := newWorld(t)
	data := []byte(w.sampleYAML())
	topics, err := bus.NewTopics("thu")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFile(data, FileOptions{Topics: topics})
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	s := f.Snapshot
	if f.SHA256 != sha256.Sum256(data) || s.Version != 0 {
		t.Errorf("SHA256 %x, version %d", f.SHA256, s.Version)
	}
	var ids []string
	for _, a := range s.Agencies {
		ids = append(ids, a.OrganID)
	}
	if got := strings.Join(ids, " "); got != "000.00.00.G12 000.00.00.G22 000.00.00.H41 000.00.00.H53 000.00.01.G22 000.00.13.G12" {
		t.Errorf("agencies, sorted: %s", got)
	}
	for _, a := range s.Agencies {
		if a.Active != (a.OrganID != "000.00.13.G12") {
			t.Errorf("%s active = %v", a.OrganID, a.Active)
		}
	}
	if s.Agencies[4].Parent != "000.00.00.G22" || s.Agencies[4].Edge != "vpcp" {
		t.Errorf("agency %+v", s.Agencies[4])
	}
	if len(s.Edges) != 3 || s.Edges[0].ID != "btc" || s.Edges[0].InboxTopic != "thu.inbox.btc" {
		t.Errorf("edges %+v", summary(s))
	}
	if string(s.Edges[1].Certificates[0]) != string(w.seals["tayninh"].Raw) {
		t.Error("edge tayninh does not hold its seal")
	}
	if len(s.Bindings) != 2 || s.Bindings[0].Certificates[0] != signing.Fingerprint(w.pki.Leaf) {
		t.Errorf("bindings %+v", s.Bindings)
	}
}

func TestParseFileErrors(t *testing.T) {
	w := newWorld(t)
	sample := w.sampleYAML()
	vpcp := w.edgesYAML("vpcp")
	with := func(agencies, edges, bindings string) string {
		if agencies == "" {
			agencies = " []\n"
		} else {
			agencies = "\n" + agencies
		}
		s := "version: 1\nagencies:" + agencies + "edges:\n" + edges
		if bindings != "" {
			s += "bindings:\n" + bindings
		}
		return s
	}
	g22 := "  - organ_id: 000.00.00.G22\n    name: Văn phòng Chính phủ\n    edge: vpcp\n"
	keyPEM := string(signingtest.KeyPEM(t, w.pki.LeafKey))
	indent := func(s string) string {
		var b strings.Builder
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			b.WriteString("      " + l + "\n")
		}
		return b.String()
	}
	garbageDER := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not a certificate")}))
	fp := signing.Fingerprint(w.pki.Leaf)

	tests := []struct {
		name  string
		yaml  string
		line  string // a text whose (first) line the error must name; "" for no line check
		field string
		msg   string
	}{
		{"empty", "", "", "", "empty file"},
		{"two documents", sample + "---\nversion: 1\n", "", "", "more than one YAML document"},
		{"not a mapping", "- 1\n", "- 1", "", "must be a mapping"},
		{"bad YAML", "version: [1\n", "", "", "yaml:"},
		{"unknown top field", strings.Replace(sample, "edges:", "edge:", 1), "\nedge:", "", `unknown field "edge"`},
		{"version 2", strings.Replace(sample, "version: 1", "version: 2", 1), "version: 2", "version", `unsupported version "2"`},
		{"no edges", "version: 1\nagencies: []\n", "version: 1", "edges", "required"},
		{"agencies not a list", "version: 1\nagencies: {}\nedges: []\n", "agencies: {}", "agencies", "must be a list"},
		{"alias", "version: 1\nagencies: &a []\nedges: *a\n", "edges: *a", "", "aliases"},
		{"agency unknown field", with("  - organ_id: 000.00.00.G22\n    name: VPCP\n    edg: vpcp\n", vpcp, ""), "edg: vpcp", "agencies[0]", `unknown field "edg"`},
		{"agency field twice", with("  - organ_id: 000.00.00.G22\n    name: VPCP\n    name: VPCP\n    edge: vpcp\n", vpcp, ""), "    name: VPCP\n    name", "agencies[0].name", "given twice"},
		{"agency not a mapping", with("  - 000.00.00.G22\n", vpcp, ""), "  - 000.00.00.G22", "agencies[0]", "must be a mapping"},
		{"agency without edge", with("  - organ_id: 000.00.00.G22\n    name: VPCP\n", vpcp, ""), "  - organ_id", "agencies[0].edge", "required"},
		{"agency with null name", with("  - organ_id: 000.00.00.G22\n    name:\n    edge: vpcp\n", vpcp, ""), "    name:", "agencies[0].name", "want a single value"},
		{"unknown edge", with(g22+"  - organ_id: 000.00.00.H53\n    name: UBND tỉnh Tây Ninh\n    edge: x\n", vpcp, ""), "edge: x", "agencies[1].edge", `unknown edge "x"`},
		{"bad edge ID in agency", with("  - organ_id: 000.00.00.G22\n    name: VPCP\n    edge: vp_cp\n", vpcp, ""), "edge: vp_cp", "agencies[0].edge", "allowed characters"},
		{"bad OrganId", with("  - organ_id: 000.00.00.G22!\n    name: VPCP\n    edge: vpcp\n", vpcp, ""), "G22!", "agencies[0].organ_id", "is not an OrganId"},
		{"duplicate OrganId", with(g22+g22, vpcp, ""), "", "agencies[1].organ_id", "listed twice (also agencies[0])"},
		{"blank name", with("  - organ_id: 000.00.00.G22\n    name: \" \"\n    edge: vpcp\n", vpcp, ""), `name: " "`, "agencies[0].name", "required"},
		{"control character in name", with("  - organ_id: 000.00.00.G22\n    name: \"V\\x01\"\n    edge: vpcp\n", vpcp, ""), `name: "V`, "agencies[0].name", "control characters"},
		{"name too long", with("  - organ_id: 000.00.00.G22\n    name: "+strings.Repeat("ằ", 201)+"\n    edge: vpcp\n", vpcp, ""), "    name: ", "agencies[0].name", "at most 200 characters"},
		{"active yes", with("  - organ_id: 000.00.00.G22\n    name: VPCP\n    edge: vpcp\n    active: yes\n", vpcp, ""), "active: yes", "agencies[0].active", "want true or false"},
		{"unknown parent", with(g22+"  - organ_id: 000.00.01.G22\n    name: Cục\n    parent: 000.00.09.G22\n    edge: vpcp\n", vpcp, ""), "parent: 000.00.09.G22", "agencies[1].parent", `unknown agency "000.00.09.G22"`},
		{"own parent", with("  - organ_id: 000.00.00.G22\n    name: VPCP\n    parent: 000.00.00.G22\n    edge: vpcp\n", vpcp, ""), "parent: 000.00.00.G22", "agencies[0].parent", "its own parent"},
		{"parent loop", with(
			"  - organ_id: 000.00.01.G22\n    name: A\n    parent: 000.00.02.G22\n    edge: vpcp\n"+
				"  - organ_id: 000.00.02.G22\n    name: B\n    parent: 000.00.03.G22\n    edge: vpcp\n"+
				"  - organ_id: 000.00.03.G22\n    name: C\n    parent: 000.00.01.G22\n    edge: vpcp\n", vpcp, ""),
			"parent: 000.00.02.G22", "agencies[0].parent", "makes a loop"},
		{"bad edge ID", with("", "  - id: vp_cp\n    certificates: |\n"+pemBlock(w.seals["vpcp"]), ""), "id: vp_cp", "edges[0].id", "allowed characters"},
		{"edge without certificates", with("", "  - id: vpcp\n", ""), "  - id: vpcp", "edges[0].certificates", "seal certificate is required"},
		{"duplicate edge", with("", vpcp+vpcp, ""), "", "edges[1].id", "listed twice"},
		{"shared inbox topic", with("", vpcp+"  - id: btc\n    inbox_topic: truc.inbox.vpcp\n    certificates: |\n"+pemBlock(w.seals["btc"]), ""), "inbox_topic: truc.inbox.vpcp", "edges[1].inbox_topic", "already the inbox of edge vpcp"},
		{"bad inbox topic", with("", "  - id: vpcp\n    inbox_topic: a b\n    certificates: |\n"+pemBlock(w.seals["vpcp"]), ""), "inbox_topic: a b", "edges[0].inbox_topic", "topic name"},
		{"private key in certificates", with("", "  - id: vpcp\n    certificates: |\n"+pemBlock(w.seals["vpcp"])+indent(keyPEM), ""), "certificates: |", "edges[0].certificates", "private key"},
		{"no PEM", with("", "  - id: vpcp\n    certificates: MIIB\n", ""), "certificates: MIIB", "edges[0].certificates", "no PEM CERTIFICATE block"},
		{"text after PEM", with("", "  - id: vpcp\n    certificates: |\n"+pemBlock(w.seals["vpcp"])+"      trailing\n", ""), "certificates: |", "edges[0].certificates", "text after the last PEM block"},
		{"not a certificate", with("", "  - id: vpcp\n    certificates: |\n"+indent(garbageDER), ""), "certificates: |", "edges[0].certificates[0]", "not a DER X.509 certificate"},
		{"same certificate twice", with("", "  - id: vpcp\n    certificates: |\n"+pemBlock(w.seals["vpcp"], w.seals["vpcp"]), ""), "certificates: |", "edges[0].certificates[1]", "same certificate as certificates[0]"},
		{"certificate files without a folder", with("", "  - id: vpcp\n    certificate_files: [vpcp.pem]\n", ""), "certificate_files", "edges[0].certificate_files[0]", "only when the directory is loaded from a file"},
		{"bindings not a list", with(g22, vpcp, "  organ_id: x\n"), "organ_id: x", "bindings", "must be a list"},
		{"binding with a bad fingerprint", with(g22, vpcp, "  - organ_id: 000.00.00.G22\n    certificates:\n      - abcd\n"), "- abcd", "", "bindings[0] (organ_id 000.00.00.G22): certificates[0]: want a SHA-256 fingerprint of 64 hex digits, got 4 digits"},
		{"binding with an unknown field", with(g22, vpcp, "  - organ_id: 000.00.00.G22\n    certificate: ["+fp+"]\n"), "certificate: [", "", `unknown field "certificate"`},
		{"binding without certificates", with(g22, vpcp, "  - organ_id: 000.00.00.G22\n    name: VPCP\n"), "", "", "at least one entry under certificates or subjects"},
		{"binding of an unknown agency", with(g22, vpcp, "  - organ_id: 000.00.00.H53\n    certificates: ["+fp+"]\n"), "organ_id: 000.00.00.H53", "bindings[0].organ_id", `unknown agency "000.00.00.H53"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFile([]byte(tt.yaml), FileOptions{})
			if err == nil {
				t.Fatal("ParseFile accepted the file")
			}
			de := wantField(t, err, tt.field, tt.msg)
			if tt.line != "" {
				want := strings.Count(tt.yaml[:strings.Index(tt.yaml, tt.line)+len(tt.line)], "\n") + 1
				if de.Line != want {
					t.Errorf("line %d, want %d (%q): %v", de.Line, want, tt.line, err)
				}
			}
		})
	}

	t.Run("binding listed twice", func(t *testing.T) {
		yaml := with(g22, vpcp, "  - organ_id: 000.00.00.G22\n    certificates: ["+fp+"]\n  - organ_id: 000.00.00.G22\n    certificates: ["+fp+"]\n")
		bindings := strings.Count(yaml[:strings.Index(yaml, "bindings:")], "\n") + 1
		_, err := ParseFile([]byte(yaml), FileOptions{})
		de := wantField(t, err, "", fmt.Sprintf("already bound by the entry at line %d", bindings+1))
		if de.Line != bindings+3 {
			t.Errorf("line %d, want %d: %v", de.Line, bindings+3, err)
		}
	})

	t.Run("too large", func(t *testing.T) {
		_, err := ParseFile(make([]byte, MaxFileBytes+1), FileOptions{})
		wantField(t, err, "", "exceeds")
	})
}

func TestReadFileCertificateFiles(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	signingtest.WriteFile(t, dir, "vpcp.pem", signingtest.CertPEM(w.seals["vpcp"]))
	signingtest.WriteFile(t, dir, "btc.pem", signingtest.CertPEM(w.seals["btc"], w.seals["hanoi"]))
	abs := signingtest.WriteFile(t, t.TempDir(), "abs.pem", signingtest.CertPEM(w.seals["tayninh"]))
	yaml := "version: 1\nagencies: []\nedges:\n  - id: vpcp\n    certificate_files: [vpcp.pem]\n" +
		"  - id: btc\n    certificates: |\n" + pemBlock(w.seals["vpcp"]) + "    certificate_files: [btc.pem, " + abs + "]\n"
	path := signingtest.WriteFile(t, dir, "directory.yaml", []byte(yaml))
	f, err := ReadFile(path, bus.Topics{})
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	if got := len(f.Snapshot.Edges[0].Certificates); got != 4 { // btc: inline + two in btc.pem + abs.pem
		t.Errorf("edge btc has %d certificates, want 4", got)
	}
	if got := f.Snapshot.Edges[1].Certificates; len(got) != 1 || string(got[0]) != string(w.seals["vpcp"].Raw) {
		t.Errorf("edge vpcp certificates from vpcp.pem: %d", len(got))
	}

	missing := signingtest.WriteFile(t, dir, "missing.yaml", []byte("version: 1\nagencies: []\nedges:\n  - id: vpcp\n    certificate_files: [nowhere.pem]\n"))
	_, err = ReadFile(missing, bus.Topics{})
	de := wantField(t, err, "edges[0].certificate_files[0]", "nowhere.pem")
	if de.Line != 5 || !strings.Contains(err.Error(), missing) {
		t.Errorf("error %v: line %d, want 5 and the file name", err, de.Line)
	}
	if _, err := ReadFile(filepath.Join(dir, "absent.yaml"), bus.Topics{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
}

func TestLoad(t *testing.T) {
	w := newWorld(t)
	path := signingtest.WriteFile(t, t.TempDir(), "directory.yaml", []byte(w.sampleYAML()))
	d, err := Load(path, Config{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if d.Version() != 1 {
		t.Errorf("version %d, want 1", d.Version())
	}
	if sum, ok := d.SeedSHA256(); !ok || sum != sha256.Sum256([]byte(w.sampleYAML())) {
		t.Errorf("SeedSHA256 = %x, %v", sum, ok)
	}
	if a, ok := d.Agency("000.00.01.G22"); !ok || a.Parent != "000.00.00.G22" {
		t.Errorf("Agency = %+v, %v", a, ok)
	}
}

// TestExampleConfig parses configs/directory.example.yaml.
func TestExampleConfig(t *testing.T) {
	f, err := ReadFile(filepath.Join("..", "..", "configs", "directory.example.yaml"), bus.Topics{})
	if err != nil {
		t.Fatalf("the example does not parse: %v", err)
	}
	s := f.Snapshot
	if len(s.Agencies) != 8 || len(s.Edges) != 3 || len(s.Bindings) != 6 {
		t.Fatalf("example has %d agencies, %d edges, %d bindings", len(s.Agencies), len(s.Edges), len(s.Bindings))
	}
	topics := map[string]string{}
	for _, e := range s.Edges {
		topics[e.ID] = e.InboxTopic
	}
	if topics["vpcp"] != "truc.inbox.vpcp" || topics["btc"] != "truc.inbox.btc" {
		t.Errorf("inbox topics %v", topics)
	}
	parents, inactive := 0, 0
	for _, a := range s.Agencies {
		if a.Parent != "" {
			parents++
		}
		if !a.Active {
			inactive++
		}
	}
	if parents != 5 || inactive != 1 {
		t.Errorf("%d agencies with a parent, %d inactive", parents, inactive)
	}
}
