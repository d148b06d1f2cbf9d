package edoc

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"path/filepath"
	"regexp"
	"testing"

	"truc.vn/truc/edoc/edoctest"
)

// TestConformance reads every official sample package: it must parse,
// validate without errors and survive a round trip (parse, build, parse)
// with equal values and byte-identical attachments.
func TestConformance(t *testing.T) {
	for _, path := range edoctest.ConformanceFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			raw := readFile(t, path)
			p := mustParse(t, raw)
			for _, pr := range p.Validate() {
				if pr.Severity == Error {
					t.Errorf("validation error: %s", pr)
				}
			}
			out := build(t, p)
			q := mustParse(t, out)
			sameValues(t, p, q)
			if problems := q.Validate(); HasErrors(problems) {
				t.Errorf("rebuilt package has errors: %v", problems)
			}
			// The attachment bytes equal the base64 in the original file.
			for i, a := range p.Attachments {
				want := decodeRawAttachment(t, raw, i)
				if got := content(t, a); !bytes.Equal(got, want) {
					t.Fatalf("attachment %d decodes to %d bytes, want the %d bytes of the file", i+1, len(got), len(want))
				}
				sum, size, err := q.Attachments[i].Digest()
				if err != nil || sum != sha256.Sum256(want) || size != int64(len(want)) {
					t.Fatalf("rebuilt attachment %d digest = %x, %d, %v; want %x, %d", i+1, sum, size, err, sha256.Sum256(want), len(want))
				}
			}
		})
	}
}

var encodedRE = regexp.MustCompile(`(?s)ContentTransferEncoded[^>]*>([^<]*)<`)

// decodeRawAttachment decodes the i-th ContentTransferEncoded of raw with
// a regular expression, independently of the parser under test.
func decodeRawAttachment(t *testing.T, raw []byte, i int) []byte {
	t.Helper()
	m := encodedRE.FindAllSubmatch(raw, -1)
	if i >= len(m) {
		t.Fatalf("file has %d encoded attachments, want at least %d", len(m), i+1)
	}
	b, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(m[i][1])))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConformanceValues checks fields of the samples one by one, so that a
// parser that dropped or confused a field would fail even if it
// round-tripped its own mistake.
func TestConformanceValues(t *testing.T) {
	dir := filepath.Join(edoctest.SharedDir(t), "conformance", "vxp-sdk")
	load := func(t *testing.T, name string) *Package {
		t.Helper()
		return mustParse(t, readFile(t, filepath.Join(dir, name)))
	}

	t.Run("edoc_new", func(t *testing.T) {
		p := load(t, "edoc_new.edxml")
		h := p.Header
		checks := []struct{ field, got, want string }{
			{"kind", p.Kind.String(), "document"},
			{"signature", p.Signature.String(), "legacy"},
			{"sender", p.Sender(), "000.00.00.A80"},
			{"To[1]", h.To[0].OrganID, "28.22.H17"},
			{"DocumentId", h.DocumentID, "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"},
			{"Code", h.Code.String(), "74fass22/VPCP-TTĐT"},
			{"PromulgationDate", h.Promulgation.Date.Raw, "2019/01/16"},
			{"Place", h.Promulgation.Place, "Hà Nội"},
			{"TypeName", h.DocumentType.TypeName, "Công văn"},
			{"Subject", h.Subject, "V/v kết nối, liên thông phần mềm quản lý văn bản"},
			{"Signer", h.Signer.FullName, "Nguyen Thanh Phuc"},
			{"DueDate", h.DueDate.Raw, "2018/09/28"},
			{"Priority", string(h.OtherInfo.Priority), "0"},
			{"PageAmount", h.OtherInfo.PageAmount, "22"},
			{"Appendix", h.OtherInfo.Appendixes[0], "Công văn về việc kết nối, liên thông phần mềm quản lý văn bản"},
			{"SteeringType", h.SteeringType, "1"},
			{"ToPlaces[2]", h.ToPlaces[1], "Uy ban nhan dan cac tinh, TP"},
			{"business", string(p.BusinessType()), "0"},
			// Bussiness/DocumentId holds 2014/02/30, a day that does not
			// exist: DocumentIds are opaque and must not be parsed.
			{"Bussiness/DocumentId", p.Trace.Business.DocumentID, "000.00.00.G22,2014/02/30,7806/VPCP-TTĐT"},
			{"Staff", p.Trace.Business.Staff.Staff, "Nguyễn Thị Ngọc Trâm"},
			{"TraceHeader", p.Trace.Headers[0].Timestamp.Raw, "2018/09/28 00:00:00"},
			{"manifest", p.Manifest[0].ContentID, "cid:209"},
			{"attachment", p.Attachments[0].Name, "1896_QD-TTg_m_294779.doc"},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
			}
		}
		if zip, err := p.Attachments[0].IsZIP(); err != nil || !zip {
			t.Errorf("IsZIP = %v, %v; the sample's attachment is a ZIP", zip, err)
		}
		// The one problem: 28.22.H17 is lenient-valid but not the 13-character form.
		want := []string{"MessageHeader/To[1]/OrganId organid-qcvn warning"}
		if got := problemKeys(p.Validate()); !equalStrings(got, want) {
			t.Errorf("problems = %q, want %q", got, want)
		}
	})

	businessCases := []struct {
		file string
		want BusinessDocType
	}{
		{"edoc_new.edxml", BusinessNew},
		{"edoc_revocation.edxml", BusinessRevoke},
		{"edoc_update.edxml", BusinessUpdate},
		{"edoc_replacement.edxml", BusinessReplace},
	}
	for _, c := range businessCases {
		t.Run(c.file, func(t *testing.T) {
			p := load(t, c.file)
			if got := p.BusinessType(); got != c.want {
				t.Errorf("BusinessType = %q, want %q", got, c.want)
			}
			switch c.want {
			case BusinessUpdate:
				info := p.Trace.Business.DocumentInfo
				if info == nil || len(info.Receivers) != 2 || info.Receivers[1].OrganID != "000.00.00.H14" || info.Receivers[1].ReceiverType != "1" {
					t.Errorf("BussinessDocumentInfo = %+v", info)
				}
			case BusinessReplace:
				r := p.Trace.Business.Replacements
				if len(r) != 2 || r[0].DocumentID != "000.00.00.G22,2014/01/30,7806/VPCP-TTĐT" || !equalStrings(r[0].OrganIDs, []string{"000.00.00.H41", "000.00.00.H14"}) {
					t.Errorf("Replacements = %+v", r)
				}
			case BusinessRevoke:
				rf := p.Header.ResponseFor
				if len(rf) != 1 || rf[0].OrganID != "000.00.00.H14" || rf[0].Code != "267/VPCP-TTĐT" || rf[0].DocumentID != "000.00.04.G14,2012/08/06,267/VPCP-TTĐT" {
					t.Errorf("ResponseFor = %+v", rf)
				}
			}
			wantTo := []string{"000.00.00.H41", "000.00.00.H14", "000.00.00.G17"}
			if c.want == BusinessNew {
				wantTo = []string{"28.22.H17"}
			}
			if got := p.Recipients(); !equalStrings(got, wantTo) {
				t.Errorf("Recipients = %q, want %q", got, wantTo)
			}
		})
	}

	statusCases := []struct {
		file     string
		code     StatusCode
		root     string // OrganId of the root document's sender
		respOrg  string
		staffDep string
	}{
		{"status.edxml", StatusArrived, "000.00.00.G22", "000.00.00.G22", "Văn thư văn phòng"},
		{"status_inbox_01.edxml", StatusArrived, "000.00.00.G22", "000.00.00.G22", "Phong hanh chinh"},
		{"status_rejection_02.edxml", StatusRejected, "000.00.00.G22", "000.00.00.G22", "Phong hanh chinh"},
		{"status_acceptance_03.edxml", StatusAccepted, "000.00.00.G22", "000.00.00.G22", "Phong hanh chinh"},
		{"status_assignment_04.edxml", StatusAssigned, "000.00.00.G22", "000.00.00.G22", "Phong hanh chinh"},
		{"status_processing_05.edxml", StatusProcessing, "000.00.00.G22", "000.00.00.G22", "Phong hanh chinh"},
		{"status_finish_06.edxml", StatusFinished, "000.00.00.G22", "000.00.00.G22", "Phong hanh chinh"},
		// The recall request comes from the original sender; the sample's
		// ResponseFor/OrganId names the recipient.
		{"status_cancellation_13.edxml", StatusRecallRequested, "000.00.00.G22", "000.00.00.H41", "Phong hanh chinh"},
		{"status_change-acceptance_15.edxml", StatusChangeAccepted, "000.00.00.G22", "000.00.00.G22", "Phong hanh chinh"},
		{"status_change-rejection_16.edxml", StatusChangeRejected, "000.00.00.G22", "000.00.00.G22", "Phong hanh chinh"},
	}
	for _, c := range statusCases {
		t.Run(c.file, func(t *testing.T) {
			p := load(t, c.file)
			if p.Kind != KindStatus || p.StatusCode() != c.code || p.Status.CodeRaw != string(c.code) {
				t.Fatalf("kind %v code %q raw %q, want status %q", p.Kind, p.StatusCode(), p.Status.CodeRaw, c.code)
			}
			org, doc := p.ResponseFor()
			if org != c.respOrg || doc != "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT" {
				t.Errorf("ResponseFor = %q, %q", org, doc)
			}
			if org, _ := p.RootDocument(); org != c.root {
				t.Errorf("RootDocument sender = %q, want %q", org, c.root)
			}
			if p.Status.Staff.Department != c.staffDep || p.Status.ResponseFor.Code != "7816/VPCP-TTĐT" {
				t.Errorf("StaffInfo %+v, ResponseFor %+v", p.Status.Staff, p.Status.ResponseFor)
			}
			if _, err := p.Status.Timestamp.Time(); err != nil {
				t.Errorf("Timestamp: %v", err)
			}
			if p.Recipients() != nil || p.BusinessType() != "" || len(p.Attachments) != 0 {
				t.Errorf("a status has no recipients, business type or attachments")
			}
			if got := p.Validate(); len(got) != 0 {
				t.Errorf("problems: %v", got)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
