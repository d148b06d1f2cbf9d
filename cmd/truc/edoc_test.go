package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"truc.vn/truc/edoc"
	"truc.vn/truc/edoc/edoctest"
)

// runCLI runs truc with args and returns stdout, stderr and the exit code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	code := report(err, &stderr)
	return stdout.String(), stderr.String(), code
}

var letterPDF = []byte("%PDF-1.4\n% công văn\n%%EOF\n")

// writeLetter writes a document package to dir and returns its path.
// change may spoil it.
func writeLetter(t *testing.T, dir, name string, change func(p *edoc.Package)) string {
	t.Helper()
	p := &edoc.Package{
		Kind: edoc.KindDocument,
		Header: edoc.MessageHeader{
			From:         edoc.Organization{OrganID: "000.00.00.H26", OrganName: "UBND Thành phố Hà Nội"},
			To:           []edoc.Organization{{OrganID: "000.00.00.G09", OrganName: "Bộ Nội vụ"}, {OrganID: "vxp.saas.03", OrganName: "Thử nghiệm"}},
			DocumentID:   "000.00.00.H26,2024/03/05,15/UBND-VP",
			Code:         edoc.Code{Number: "15", Notation: "UBND-VP"},
			Promulgation: edoc.PromulgationInfo{Place: "Hà Nội", Date: edoc.Date{Raw: "2024/03/05"}},
			DocumentType: edoc.DocumentType{Type: "1", TypeName: "Công văn"},
			Subject:      "V/v báo cáo định kỳ",
		},
		Trace: &edoc.TraceHeaderList{Business: &edoc.Business{DocType: edoc.BusinessUpdate}},
	}
	a := edoc.NewAttachmentReader("15-UBND-VP.pdf", "application/zip", bytes.NewReader(letterPDF))
	a.ContentID = "cid:1"
	p.AddAttachment(a)
	if change != nil {
		change(p)
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEdocValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeLetter(t, dir, "good.edxml", nil)
	bad := writeLetter(t, dir, "bad.edxml", func(p *edoc.Package) {
		p.Header.To = append(p.Header.To, p.Header.To[0])
		p.Header.Promulgation.Date = edoc.Date{Raw: "2024/02/30"}
		p.Manifest[0].ContentID = "cid:2"
	})
	hostile := filepath.Join(dir, "hostile.edxml")
	os.WriteFile(hostile, []byte(`<!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]><edXML>&x;</edXML>`), 0o644)
	missing := filepath.Join(dir, "missing.edxml")

	cases := []struct {
		name      string
		args      []string
		code      int
		stdout    []string // lines, exactly
		stderrHas string
	}{
		{"valid with a warning", []string{"edoc", "validate", good}, exitOK,
			[]string{good + `: MessageHeader/To[2]/OrganId: organid-qcvn: warning: "vxp.saas.03" is not in the 13-character QCVN 102:2016 form NNN.NN.NN.XNN (allowed since amendment 1:2022, but unusual)`},
			"1 file, 0 invalid; 0 errors, 1 warning"},
		{"every problem of an invalid file", []string{"edoc", "validate", bad}, exitFailure,
			[]string{
				bad + `: MessageHeader/To[2]/OrganId: organid-qcvn: warning: "vxp.saas.03" is not in the 13-character QCVN 102:2016 form NNN.NN.NN.XNN (allowed since amendment 1:2022, but unusual)`,
				bad + `: MessageHeader/To[3]/OrganId: duplicate-recipient: error: "000.00.00.G09" is already To[1]`,
				bad + `: MessageHeader/PromulgationInfo/PromulgationDate: date: error: "2024/02/30" is not a real date or time: day out of range; want a real date as yyyy/MM/dd`,
				bad + `: edXMLManifest/Reference[1]/ContentId: manifest-unmatched: error: no attachment has ContentId "cid:2"`,
				bad + `: AttachmentEncoded/Attachment[1]/ContentId: attachment-unreferenced: error: no manifest Reference has ContentId "cid:1"`,
			},
			"1 file, 1 invalid; 4 errors, 1 warning"},
		{"hostile and missing files", []string{"edoc", "validate", hostile, good, missing}, exitFailure,
			nil, "3 files, 2 invalid; 2 errors, 1 warning"},
		{"size limit", []string{"edoc", "validate", "--max-bytes", "100", good}, exitFailure,
			[]string{good + ": xml: size-limit: error: document exceeds the size limit of 100 bytes"}, "1 invalid"},
		{"no file", []string{"edoc", "validate"}, exitUsage, nil, "no file given"},
		{"unknown flag", []string{"edoc", "validate", "--strict", good}, exitUsage, nil, "flag provided but not defined"},
		{"unknown command", []string{"edoc", "check", good}, exitUsage, nil, `unknown command "check"`},
		{"no command", []string{"edoc"}, exitUsage, nil, "no command given"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, stdout, stderr)
			}
			if c.stdout != nil {
				if got := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n"); strings.Join(got, "\n") != strings.Join(c.stdout, "\n") {
					t.Errorf("stdout:\n%s\nwant:\n%s", stdout, strings.Join(c.stdout, "\n"))
				}
			}
			if !strings.Contains(stderr, c.stderrHas) {
				t.Errorf("stderr %q lacks %q", stderr, c.stderrHas)
			}
		})
	}

	t.Run("hostile and missing lines", func(t *testing.T) {
		stdout, _, _ := runCLI(t, "edoc", "validate", hostile, missing)
		for _, want := range []string{
			hostile + ": xml: xml-syntax: error: DOCTYPE is not allowed",
			missing + ": -: read: error: open " + missing,
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
		}
	})
}

func TestEdocValidateJSON(t *testing.T) {
	dir := t.TempDir()
	good := writeLetter(t, dir, "good.edxml", nil)
	bad := writeLetter(t, dir, "bad.edxml", func(p *edoc.Package) { p.Header.Subject = "" })
	stdout, _, code := runCLI(t, "edoc", "validate", "--json", good, bad)
	if code != exitFailure {
		t.Fatalf("exit %d", code)
	}
	var got []struct {
		File     string `json:"file"`
		Kind     string `json:"kind"`
		Valid    bool   `json:"valid"`
		Problems []struct {
			Path, Rule, Severity, Message string
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(got) != 2 || got[0].File != good || !got[0].Valid || got[1].Valid || got[1].Kind != "document" {
		t.Fatalf("results %+v", got)
	}
	last := got[1].Problems[len(got[1].Problems)-1]
	if last.Path != "MessageHeader/Subject" || last.Rule != "required" || last.Severity != "error" || last.Message == "" {
		t.Fatalf("problem %+v", last)
	}
}

// TestEdocValidateConformance: the official samples validate with exit 0.
func TestEdocValidateConformance(t *testing.T) {
	files := edoctest.ConformanceFiles(t)
	stdout, stderr, code := runCLI(t, append([]string{"edoc", "validate"}, files...)...)
	if code != exitOK || strings.Contains(stdout, ": error: ") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestEdocInspect(t *testing.T) {
	dir := t.TempDir()
	letter := writeLetter(t, dir, "letter.edxml", nil)
	sum := sha256.Sum256(letterPDF)
	digest := hex.EncodeToString(sum[:])

	stdout, stderr, code := runCLI(t, "edoc", "inspect", letter)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"kind:         document",
		"sender:       000.00.00.H26  UBND Thành phố Hà Nội",
		"recipients:   000.00.00.G09  Bộ Nội vụ\n              vxp.saas.03  Thử nghiệm",
		"code:         15/UBND-VP",
		"subject:      V/v báo cáo định kỳ",
		"type:         1 Công văn",
		"business:     2 (update)",
		// Declared application/zip, but the bytes are a PDF: not a zip.
		"  cid:1  15-UBND-VP.pdf  application/zip  28 bytes  sha256:" + digest,
		"problems: 0 errors, 1 warning",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}

	stdout, _, code = runCLI(t, "edoc", "inspect", "--json", letter)
	var got struct {
		Kind       string                   `json:"kind"`
		Sender     struct{ OrganID string } `json:"sender"`
		Recipients []struct {
			OrganID string `json:"organId"`
		} `json:"recipients"`
		BusinessType string `json:"businessType"`
		Attachments  []struct {
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
			ZIP    bool   `json:"zip"`
		} `json:"attachments"`
		Warnings int `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != exitOK {
		t.Fatalf("exit %d, %v\n%s", code, err, stdout)
	}
	if got.Kind != "document" || got.Sender.OrganID != "000.00.00.H26" || len(got.Recipients) != 2 || got.BusinessType != "2" ||
		len(got.Attachments) != 1 || got.Attachments[0].SHA256 != digest || got.Attachments[0].Size != int64(len(letterPDF)) || got.Attachments[0].ZIP || got.Warnings != 1 {
		t.Fatalf("inspect --json = %+v", got)
	}
}

func TestEdocInspectStatus(t *testing.T) {
	files := edoctest.ConformanceFiles(t)
	var path string
	for _, f := range files {
		if strings.HasSuffix(f, "status_cancellation_13.edxml") {
			path = f
		}
	}
	stdout, _, code := runCLI(t, "edoc", "inspect", path)
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"kind:         status",
		"responds to:  000.00.00.H41  000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
		"status:       13 (sender requests recall)",
		"timestamp:    2015/09/20 11:08:36",
		"attachments:  0",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestEdocInspectErrors(t *testing.T) {
	dir := t.TempDir()
	notXML := filepath.Join(dir, "x.edxml")
	os.WriteFile(notXML, []byte("%PDF-1.4"), 0o644)
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"not XML", []string{"edoc", "inspect", notXML}, exitFailure, "xml-syntax"},
		{"missing", []string{"edoc", "inspect", filepath.Join(dir, "none")}, exitFailure, "no such file"},
		{"two files", []string{"edoc", "inspect", notXML, notXML}, exitUsage, "exactly one file"},
		{"help", []string{"edoc", "inspect", "-h"}, exitOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(stderr, c.msg) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, c.code, c.msg)
			}
			if c.name == "help" && !strings.Contains(stdout, "Example:") {
				t.Fatalf("help without an example:\n%s", stdout)
			}
		})
	}
}

func TestEdocHelp(t *testing.T) {
	for _, args := range [][]string{{"help", "edoc"}, {"edoc", "-h"}, {"edoc", "validate", "-h"}, {"edoc", "validate", "--help"}} {
		stdout, _, code := runCLI(t, args...)
		if code != exitOK || !strings.Contains(stdout, "validate") {
			t.Errorf("%q: exit %d\n%s", args, code, stdout)
		}
	}
}
