package edoc

import (
	"encoding/json"
	"strings"
	"testing"
)

// parsedSample returns sampleDocument (or sampleStatus) after a write and
// a read, so that its attachments are parsed ones.
func parsedSample(t *testing.T, status bool) *Package {
	t.Helper()
	if status {
		return mustParse(t, build(t, sampleStatus()))
	}
	return mustParse(t, build(t, sampleDocument()))
}

// parsedAttachment returns a parsed attachment whose base64 text is encoded.
func parsedAttachment(t *testing.T, id, encoded string) *Attachment {
	t.Helper()
	doc := `<edXML><edXMLEnvelope><edXMLHeader><MessageHeader/></edXMLHeader></edXMLEnvelope><AttachmentEncoded><Attachment>` +
		`<ContentId>` + id + `</ContentId><AttachmentName>x.pdf</AttachmentName><ContentTransferEncoded>` + encoded +
		`</ContentTransferEncoded></Attachment></AttachmentEncoded></edXML>`
	return mustParse(t, []byte(doc)).Attachments[0]
}

func TestValidateDocument(t *testing.T) {
	long := func(n int) string { return strings.Repeat("ệ", n) } // 3 bytes, 1 character
	cases := []struct {
		name   string
		change func(t *testing.T, p *Package)
		want   []string // problem keys: path rule severity
	}{
		{"valid", func(*testing.T, *Package) {}, nil},
		{"no From OrganId", func(_ *testing.T, p *Package) { p.Header.From.OrganID = "" },
			[]string{"MessageHeader/From/OrganId required error"}},
		{"From OrganId breaks the grammar", func(_ *testing.T, p *Package) { p.Header.From.OrganID = "000.00.00.G22!" },
			[]string{"MessageHeader/From/OrganId organid error"}},
		{"From OrganId over 35 characters", func(_ *testing.T, p *Package) { p.Header.From.OrganID = strings.Repeat("A.", 18) + "A" },
			[]string{"MessageHeader/From/OrganId organid error"}},
		{"non-QCVN OrganId is only a warning", func(_ *testing.T, p *Package) { p.Header.To[0].OrganID = "vxp.saas.03" },
			[]string{"MessageHeader/To[1]/OrganId organid-qcvn warning"}},
		{"no From OrganName is a warning", func(_ *testing.T, p *Package) { p.Header.From.OrganName = "" },
			[]string{"MessageHeader/From/OrganName required warning"}},
		{"no To", func(_ *testing.T, p *Package) { p.Header.To = nil },
			[]string{"MessageHeader/To required error"}},
		{"To without OrganId", func(_ *testing.T, p *Package) { p.Header.To[1].OrganID = "" },
			[]string{"MessageHeader/To[2]/OrganId required error"}},
		{"duplicate recipient", func(_ *testing.T, p *Package) { p.Header.To = append(p.Header.To, p.Header.To[0]) },
			[]string{"MessageHeader/To[3]/OrganId duplicate-recipient error"}},
		{"no DocumentId", func(_ *testing.T, p *Package) { p.Header.DocumentID = "" },
			[]string{"MessageHeader/DocumentId required error"}},
		{"DocumentId too long", func(_ *testing.T, p *Package) { p.Header.DocumentID = long(201) },
			[]string{"MessageHeader/DocumentId max-length error"}},
		{"DocumentId is opaque", func(_ *testing.T, p *Package) { p.Header.DocumentID = "000.00.00.G22,2014/02/30,7806/VPCP" }, nil},
		{"UUID DocumentId", func(_ *testing.T, p *Package) { p.Header.DocumentID = "874e0f18-5b2c-4c8e-9a51-0d6f3e2b7c11" }, nil},
		{"no code", func(_ *testing.T, p *Package) { p.Header.Code = Code{} },
			[]string{"MessageHeader/Code/CodeNumber required error", "MessageHeader/Code/CodeNotation required error"}},
		{"code too long", func(_ *testing.T, p *Package) { p.Header.Code = Code{Number: long(12), Notation: long(31)} },
			[]string{"MessageHeader/Code/CodeNumber max-length error", "MessageHeader/Code/CodeNotation max-length error"}},
		{"no promulgation date", func(_ *testing.T, p *Package) { p.Header.Promulgation.Date = Date{} },
			[]string{"MessageHeader/PromulgationInfo/PromulgationDate required error"}},
		{"promulgation date not in the calendar", func(_ *testing.T, p *Package) { p.Header.Promulgation.Date = Date{Raw: "2023/02/29"} },
			[]string{"MessageHeader/PromulgationInfo/PromulgationDate date error"}},
		{"promulgation date in another layout", func(_ *testing.T, p *Package) { p.Header.Promulgation.Date = Date{Raw: "05/03/2024"} },
			[]string{"MessageHeader/PromulgationInfo/PromulgationDate date error"}},
		{"due date before promulgation is allowed", func(_ *testing.T, p *Package) { p.Header.DueDate = Date{Raw: "2020/01/01"} }, nil},
		{"bad due date", func(_ *testing.T, p *Package) { p.Header.DueDate = Date{Raw: "2024/04/31"} },
			[]string{"MessageHeader/DueDate date error"}},
		{"place too long", func(_ *testing.T, p *Package) { p.Header.Promulgation.Place = long(51) },
			[]string{"MessageHeader/PromulgationInfo/Place max-length error"}},
		{"no document type", func(_ *testing.T, p *Package) { p.Header.DocumentType = DocumentType{} },
			[]string{"MessageHeader/DocumentType/Type required warning"}},
		{"document type not a number", func(_ *testing.T, p *Package) { p.Header.DocumentType.Type = "CV" },
			[]string{"MessageHeader/DocumentType/Type integer error"}},
		{"no subject", func(_ *testing.T, p *Package) { p.Header.Subject = "" },
			[]string{"MessageHeader/Subject required error"}},
		{"subject of 500 characters", func(_ *testing.T, p *Package) { p.Header.Subject = long(500) }, nil},
		{"subject of 501 characters", func(_ *testing.T, p *Package) { p.Header.Subject = long(501) },
			[]string{"MessageHeader/Subject max-length error"}},
		{"long content is a warning", func(_ *testing.T, p *Package) { p.Header.Content = long(501) },
			[]string{"MessageHeader/Content max-length warning"}},
		{"long telephone is a warning", func(_ *testing.T, p *Package) { p.Header.To[0].Telephone = long(21) },
			[]string{"MessageHeader/To[1]/Telephone max-length warning"}},
		{"unknown priority", func(_ *testing.T, p *Package) { p.Header.OtherInfo.Priority = "9" },
			[]string{"MessageHeader/OtherInfo/Priority unknown-value warning"}},
		{"priority not a number", func(_ *testing.T, p *Package) { p.Header.OtherInfo.Priority = "high" },
			[]string{"MessageHeader/OtherInfo/Priority integer error"}},
		{"negative page amount", func(_ *testing.T, p *Package) { p.Header.OtherInfo.PageAmount = "-1" },
			[]string{"MessageHeader/OtherInfo/PageAmount integer error"}},
		{"amount over an unsigned short", func(_ *testing.T, p *Package) { p.Header.OtherInfo.PromulgationAmount = "65536" },
			[]string{"MessageHeader/OtherInfo/PromulgationAmount integer error"}},
		{"odd direction", func(_ *testing.T, p *Package) { p.Header.OtherInfo.Direction = "yes" },
			[]string{"MessageHeader/OtherInfo/Direction unknown-value warning"}},
		{"unknown steering type", func(_ *testing.T, p *Package) { p.Header.SteeringType = "5" },
			[]string{"MessageHeader/SteeringType unknown-value warning"}},
		{"bad ResponseFor", func(_ *testing.T, p *Package) {
			p.Header.ResponseFor[1] = ResponseFor{OrganID: "bad id", PromulgationDate: Date{Raw: "2024/02/30"}}
		}, []string{"MessageHeader/ResponseFor[2]/OrganId organid error", "MessageHeader/ResponseFor[2]/PromulgationDate date error"}},
		{"no trace", func(_ *testing.T, p *Package) { p.Trace = nil },
			[]string{"TraceHeaderList/Bussiness no-business warning"}},
		{"unknown business type", func(_ *testing.T, p *Package) { p.Trace.Business.DocType = "4" },
			[]string{"TraceHeaderList/Bussiness/BussinessDocType business-type error"}},
		{"no business type", func(_ *testing.T, p *Package) { p.Trace.Business.DocType = "" },
			[]string{"TraceHeaderList/Bussiness/BussinessDocType required error"}},
		{"replacement naming nothing", func(_ *testing.T, p *Package) { p.Trace.Business.DocType = BusinessReplace },
			[]string{"TraceHeaderList/Bussiness/ReplacementInfoList required warning"}},
		{"bad replacement", func(_ *testing.T, p *Package) {
			p.Trace.Business.DocType = BusinessReplace
			p.Trace.Business.Replacements = []ReplacementInfo{{OrganIDs: []string{"000.00.00.H41", "x y"}}}
		}, []string{
			"TraceHeaderList/Bussiness/ReplacementInfoList/ReplacementInfo[1]/DocumentId required error",
			"TraceHeaderList/Bussiness/ReplacementInfoList/ReplacementInfo[1]/OrganIdList/OrganId[2] organid error",
		}},
		{"bad update receivers", func(_ *testing.T, p *Package) {
			p.Trace.Business.DocType = BusinessUpdate
			p.Trace.Business.DocumentInfo = &BusinessDocumentInfo{Receivers: []Receiver{{OrganID: "", ReceiverType: "x"}}}
		}, []string{
			"TraceHeaderList/Bussiness/BussinessDocumentInfo/ReceiverList/Receiver[1]/OrganId required error",
			"TraceHeaderList/Bussiness/BussinessDocumentInfo/ReceiverList/Receiver[1]/ReceiverType integer error",
		}},
		{"trace timestamp as a date", func(_ *testing.T, p *Package) { p.Trace.Headers[0].Timestamp = Timestamp{Raw: "2024/03/05"} },
			[]string{"TraceHeaderList/TraceHeader[1]/Timestamp timestamp error"}},
		{"odd trace OrganId is a warning", func(_ *testing.T, p *Package) { p.Trace.Headers[0].OrganID = "n/a" },
			[]string{"TraceHeaderList/TraceHeader[1]/OrganId organid warning"}},
		{"reference without attachment", func(t *testing.T, p *Package) {
			p.Manifest = append(p.Manifest, Reference{ContentID: "cid:missing"})
		}, []string{"edXMLManifest/Reference[2]/ContentId manifest-unmatched error"}},
		{"attachment without reference", func(t *testing.T, p *Package) { p.Manifest = nil },
			[]string{"AttachmentEncoded/Attachment[1]/ContentId attachment-unreferenced error"}},
		{"cid: prefix on one side only", func(t *testing.T, p *Package) { p.Attachments[0].ContentID = "a1" }, nil},
		{"two attachments, one ContentId", func(t *testing.T, p *Package) {
			p.Attachments = append(p.Attachments, parsedAttachment(t, "a1", "QUJD"))
		}, []string{
			"edXMLManifest/Reference[1]/ContentId manifest-ambiguous error",
			"AttachmentEncoded/Attachment[2]/ContentId duplicate-content-id error",
		}},
		{"two references, one ContentId", func(t *testing.T, p *Package) { p.Manifest = append(p.Manifest, p.Manifest[0]) },
			[]string{"edXMLManifest/Reference[2]/ContentId duplicate-content-id error"}},
		{"reference without ContentId", func(t *testing.T, p *Package) { p.Manifest[0].ContentID = "" },
			[]string{"edXMLManifest/Reference[1]/ContentId required error", "AttachmentEncoded/Attachment[1]/ContentId attachment-unreferenced error"}},
		{"invalid base64", func(t *testing.T, p *Package) { p.Attachments[0] = parsedAttachment(t, "cid:a1", "QUJD!!!!") },
			[]string{"AttachmentEncoded/Attachment[1]/ContentTransferEncoded base64 error"}},
		{"base64 with data after padding", func(t *testing.T, p *Package) { p.Attachments[0] = parsedAttachment(t, "cid:a1", "QQ==QUJD") },
			[]string{"AttachmentEncoded/Attachment[1]/ContentTransferEncoded base64 error"}},
		{"base64 in lines", func(t *testing.T, p *Package) {
			p.Attachments[0] = parsedAttachment(t, "cid:a1", "\n  QUJD\r\n  QUJD\n\tQQ==\n")
		}, nil},
		{"empty attachment", func(t *testing.T, p *Package) { p.Attachments[0] = parsedAttachment(t, "cid:a1", "") },
			[]string{"AttachmentEncoded/Attachment[1]/ContentTransferEncoded empty-attachment warning"}},
		{"attachment without content", func(t *testing.T, p *Package) { p.Attachments[0] = &Attachment{ContentID: "cid:a1", Name: "x"} },
			[]string{"AttachmentEncoded/Attachment[1]/ContentTransferEncoded required error"}},
		{"no attachments", func(t *testing.T, p *Package) { p.Manifest, p.Attachments = nil, nil },
			[]string{"edXMLManifest no-attachments warning"}},
		{"every problem at once", func(t *testing.T, p *Package) {
			p.Header.To = nil
			p.Header.Subject = ""
			p.Header.Promulgation.Date = Date{Raw: "2024/13/01"}
			p.Manifest = nil
		}, []string{
			"MessageHeader/To required error",
			"MessageHeader/PromulgationInfo/PromulgationDate date error",
			"MessageHeader/Subject required error",
			"AttachmentEncoded/Attachment[1]/ContentId attachment-unreferenced error",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := parsedSample(t, false)
			c.change(t, p)
			problems := p.Validate()
			if got := problemKeys(problems); !equalStrings(got, c.want) {
				t.Fatalf("problems:\n got %q\nwant %q\n%v", got, c.want, problems)
			}
			wantErr := false
			for _, k := range c.want {
				wantErr = wantErr || strings.HasSuffix(k, " error")
			}
			if HasErrors(problems) != wantErr {
				t.Errorf("HasErrors = %v", !wantErr)
			}
			for _, pr := range problems {
				if pr.Message == "" || !strings.Contains(pr.String(), pr.Path) {
					t.Errorf("problem without a message or path: %#v", pr)
				}
			}
		})
	}
}

func TestValidateStatus(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, p *Package)
		want   []string
	}{
		{"valid", func(*testing.T, *Package) {}, nil},
		{"14 is 15", func(_ *testing.T, p *Package) { p.Status.CodeRaw, p.Status.Code = "14", ParseStatusCode("14") }, nil},
		{"unknown code", func(_ *testing.T, p *Package) { p.Status.CodeRaw, p.Status.Code = "07", "07" },
			[]string{"MessageHeader/StatusCode unknown-value warning"}},
		{"one-digit code", func(_ *testing.T, p *Package) { p.Status.CodeRaw, p.Status.Code = "1", "1" },
			[]string{"MessageHeader/StatusCode status-code error"}},
		{"no code", func(_ *testing.T, p *Package) { p.Status.CodeRaw, p.Status.Code = "", "" },
			[]string{"MessageHeader/StatusCode required error"}},
		{"no ResponseFor", func(_ *testing.T, p *Package) { p.Status.ResponseFor = ResponseFor{} }, []string{
			"MessageHeader/ResponseFor/OrganId required error",
			"MessageHeader/ResponseFor/Code required error",
			"MessageHeader/ResponseFor/DocumentId required error",
		}},
		{"bad ResponseFor OrganId", func(_ *testing.T, p *Package) { p.Status.ResponseFor.OrganID = "G 22" },
			[]string{"MessageHeader/ResponseFor/OrganId organid error"}},
		{"no timestamp", func(_ *testing.T, p *Package) { p.Status.Timestamp = Timestamp{} },
			[]string{"MessageHeader/Timestamp required warning"}},
		{"bad timestamp", func(_ *testing.T, p *Package) { p.Status.Timestamp = Timestamp{Raw: "2024/03/05 9:00:00"} },
			[]string{"MessageHeader/Timestamp timestamp error"}},
		{"no From", func(_ *testing.T, p *Package) { p.Status.From = Organization{} },
			[]string{"MessageHeader/From/OrganId required error", "MessageHeader/From/OrganName required warning"}},
		{"attachments on a status", func(t *testing.T, p *Package) {
			p.AddAttachment(bytesAttachment("cid:1", "a.pdf", "application/pdf", samplePDF))
		}, []string{"edXMLManifest unexpected warning"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := parsedSample(t, true)
			c.change(t, p)
			if got := problemKeys(p.Validate()); !equalStrings(got, c.want) {
				t.Fatalf("problems:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestValidateKind(t *testing.T) {
	for _, p := range []*Package{{}, {Kind: KindStatus}} {
		if ps := p.Validate(); !HasErrors(ps) {
			t.Errorf("%+v validated: %v", p, ps)
		}
	}
}

func TestProblemJSON(t *testing.T) {
	b, err := json.Marshal(Problem{Path: "MessageHeader/Subject", Rule: "required", Severity: Warning, Message: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"path":"MessageHeader/Subject","rule":"required","severity":"warning","message":"m"}`; string(b) != want {
		t.Fatalf("JSON = %s, want %s", b, want)
	}
}
