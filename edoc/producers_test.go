package edoc

import (
	"path/filepath"
	"testing"
)

// TestProducers reads packages shaped like those of producers other than
// the official SDK. Each must parse, validate without errors and round-trip;
// check looks at the fields that make the fixture different.
func TestProducers(t *testing.T) {
	cases := []struct {
		file     string
		kind     Kind
		sig      SignatureKind
		warnings []string // the expected problems, all warnings
		check    func(t *testing.T, p *Package)
	}{
		{
			file: "unprefixed.edxml", kind: KindDocument,
			check: func(t *testing.T, p *Package) {
				expect(t, "Subject", p.Header.Subject, "Báo cáo định kỳ quý I & kế hoạch quý II")
				expect(t, "Recipients", p.Recipients()[0], "000.00.00.G09")
			},
		},
		{
			file: "other-prefix.edxml", kind: KindDocument,
			check: func(t *testing.T, p *Package) {
				expect(t, "To[2]", p.Header.To[1].OrganID, "000.00.00.H17")
				expect(t, "Priority", p.Header.OtherInfo.Priority.Meaning(), "urgent")
				if zip, err := p.Attachments[0].IsZIP(); !zip || err != nil {
					t.Errorf("IsZIP = %v, %v", zip, err)
				}
			},
		},
		{
			file: "reordered.edxml", kind: KindDocument,
			check: func(t *testing.T, p *Package) {
				expect(t, "From", p.Sender(), "000.00.21.H53")
				expect(t, "Email", p.Header.From.Email, "sgddt@tayninh.gov.vn")
				expect(t, "Code", p.Header.Code.String(), "7/SGDĐT-KT")
				expect(t, "PromulgationDate", p.Header.Promulgation.Date.Raw, "2024/02/29")
				expect(t, "Staff", p.Trace.Business.Staff.Staff, "Lê Văn C")
				expect(t, "Timestamp", p.Trace.Headers[0].Timestamp.Raw, "2024/02/29 23:59:59")
				expect(t, "attachment", p.Attachments[0].Name, "7-SGDDT.pdf")
			},
		},
		{
			file: "minimal-no-namespace.edxml", kind: KindDocument,
			warnings: []string{
				"MessageHeader/From/OrganName required warning",
				"MessageHeader/To[1]/OrganName required warning",
				"MessageHeader/DocumentType/Type required warning",
				"TraceHeaderList/Bussiness no-business warning",
			},
			check: func(t *testing.T, p *Package) {
				expect(t, "business", string(p.BusinessType()), string(BusinessNew))
				if p.Trace != nil {
					t.Errorf("Trace = %+v, want nil", p.Trace)
				}
				// The manifest says cid:f1, the attachment f1: they match.
				expect(t, "ContentId", p.Attachments[0].ContentID, "f1")
			},
		},
		{
			file: "axis-2025-shape.edxml", kind: KindDocument,
			warnings: []string{
				"MessageHeader/From/OrganId organid-qcvn warning",
				"MessageHeader/From/OrganName required warning",
				"MessageHeader/To[1]/OrganId organid-qcvn warning",
				"MessageHeader/To[1]/OrganName required warning",
				"MessageHeader/DocumentType/Type required warning",
				// "null" is lenient-valid (letters), just not the QCVN form.
				"TraceHeaderList/TraceHeader[1]/OrganId organid-qcvn warning",
			},
			check: func(t *testing.T, p *Package) {
				expect(t, "sender", p.Sender(), "vxp.saas.03")
				expect(t, "DocumentId", p.Header.DocumentID, "874e0f18-5b2c-4c8e-9a51-0d6f3e2b7c11")
				if len(p.Header.ResponseFor) != 1 || p.Header.ResponseFor[0] != (ResponseFor{}) {
					t.Errorf("ResponseFor = %+v, want one empty entry", p.Header.ResponseFor)
				}
				expect(t, "Business", string(p.BusinessType()), "0")
				expect(t, "BusinessDocReason", p.Trace.Business.DocReason, "Văn bản điện tử mới")
				// Declared application/pdf in the manifest, application/zip
				// on the attachment: the bytes decide.
				if zip, err := p.Attachments[0].IsZIP(); !zip || err != nil {
					t.Errorf("IsZIP = %v, %v", zip, err)
				}
			},
		},
		{
			file: "xmldsig-signed.edxml", kind: KindDocument, sig: SignatureXMLDSig,
			warnings: []string{"MessageHeader/DocumentType/Type required warning"},
			check: func(t *testing.T, p *Package) {
				expect(t, "sender", p.Sender(), "000.00.00.G22")
			},
		},
		{
			file: "legacy-signature-update.edxml", kind: KindDocument, sig: SignatureLegacy,
			warnings: []string{"MessageHeader/DocumentType/Type required warning"},
			check: func(t *testing.T, p *Package) {
				expect(t, "business", string(p.BusinessType()), string(BusinessUpdate))
				expect(t, "Receiver", p.Trace.Business.DocumentInfo.Receivers[0].OrganID, "000.00.00.H14")
			},
		},
		{
			file: "status-dotnet-14.edxml", kind: KindStatus,
			check: func(t *testing.T, p *Package) {
				expect(t, "code", string(p.StatusCode()), string(StatusChangeAccepted))
				expect(t, "raw code", p.Status.CodeRaw, "14")
				org, doc := p.ResponseFor()
				expect(t, "ResponseFor/OrganId", org, "000.00.00.G22")
				expect(t, "ResponseFor/DocumentId", doc, "000.00.00.G22,2024/06/01,301/VPCP-KSTT")
			},
		},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			p := mustParse(t, readFile(t, filepath.Join("testdata", "producers", c.file)))
			if p.Kind != c.kind || p.Signature != c.sig {
				t.Fatalf("kind %v signature %v, want %v %v", p.Kind, p.Signature, c.kind, c.sig)
			}
			problems := p.Validate()
			if got := problemKeys(problems); !equalStrings(got, c.warnings) {
				t.Errorf("problems:\n got %q\nwant %q", got, c.warnings)
			}
			c.check(t, p)
			q := mustParse(t, build(t, p))
			sameValues(t, p, q)
			if q.Kind == KindStatus {
				// The raw "14" survives the round trip.
				expect(t, "raw code after round trip", q.Status.CodeRaw, p.Status.CodeRaw)
			}
		})
	}
}

// TestProducerFixturesCovered makes sure every fixture has a case above.
func TestProducerFixturesCovered(t *testing.T) {
	if n := len(fixtures(t, "producers/*.edxml")); n != 8 {
		t.Fatalf("%d fixtures in testdata/producers, TestProducers covers 8: add a case", n)
	}
}

func expect(t *testing.T, field, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", field, got, want)
	}
}
