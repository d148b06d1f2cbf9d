package edoc

import (
	"strings"
	"testing"
	"time"
)

func TestNewStatus(t *testing.T) {
	doc := sampleDocument()
	at := time.Date(2024, 3, 5, 3, 4, 5, 0, time.UTC)
	staff := StaffInfo{Department: "Văn thư", Staff: "Lê Văn C"}
	receiver := doc.Header.To[1]

	p, err := NewStatus(doc, receiver, StatusAccepted, "  Đã tiếp nhận \n", staff, at)
	if err != nil {
		t.Fatal(err)
	}
	want := StatusHeader{
		From: receiver,
		ResponseFor: ResponseFor{
			OrganID:          "000.00.00.H26",
			Code:             "15/UBND-VP",
			PromulgationDate: Date{Raw: "2024/03/05"},
			DocumentID:       "000.00.00.H26,2024/03/05,15/UBND-VP",
		},
		Staff: staff, Code: StatusAccepted, CodeRaw: "03",
		Description: "Đã tiếp nhận",
		Timestamp:   Timestamp{Raw: "2024/03/05 10:04:05"},
	}
	if p.Kind != KindStatus || *p.Status != want {
		t.Fatalf("status = %+v\nwant %+v", *p.Status, want)
	}
	if org, docID := p.RootDocument(); org != "000.00.00.H26" || docID != doc.Header.DocumentID {
		t.Errorf("RootDocument = %q, %q", org, docID)
	}
	q := mustParse(t, build(t, p))
	sameValues(t, p, q)
	if ps := q.Validate(); len(ps) != 0 {
		t.Errorf("problems: %v", ps)
	}

	t.Run("14 is sent as 15", func(t *testing.T) {
		p, err := NewStatus(doc, receiver, "14", "", staff, at)
		if err != nil || p.Status.Code != StatusChangeAccepted || !strings.Contains(string(build(t, p)), "<edXML:StatusCode>15</edXML:StatusCode>") {
			t.Fatalf("NewStatus(14) = %+v, %v", p, err)
		}
	})
	t.Run("recall request from the sender", func(t *testing.T) {
		p, err := NewStatus(doc, doc.Header.From, StatusRecallRequested, "Lấy lại do sai sót", staff, at)
		if err != nil {
			t.Fatal(err)
		}
		if org, _ := p.RootDocument(); org != doc.Header.From.OrganID {
			t.Errorf("RootDocument sender = %q", org)
		}
	})

	bad := []struct {
		name string
		doc  *Package
		from Organization
		code StatusCode
		at   time.Time
		msg  string
	}{
		{"not a document", p, receiver, StatusArrived, at, "answers a document"},
		{"nil document", nil, receiver, StatusArrived, at, "answers a document"},
		{"unknown code", doc, receiver, "07", at, `"07" is not one of`},
		{"empty code", doc, receiver, "", at, "is not one of"},
		{"bad From", doc, Organization{OrganID: "không hợp lệ"}, StatusArrived, at, "is not an OrganId"},
		{"not a recipient", doc, Organization{OrganID: "000.00.00.H41"}, StatusArrived, at, "is not a recipient"},
		{"sender reporting arrival", doc, doc.Header.From, StatusArrived, at, "is not a recipient"},
		{"recall by a recipient", doc, receiver, StatusRecallRequested, at, "comes from the document's sender"},
		{"no time", doc, receiver, StatusArrived, time.Time{}, "no time"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			p, err := NewStatus(c.doc, c.from, c.code, "", staff, c.at)
			if p != nil || err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("NewStatus = %v, %v; want an error saying %q", p, err, c.msg)
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	doc := sampleDocument()
	if doc.Sender() != "000.00.00.H26" || !equalStrings(doc.Recipients(), []string{"000.00.00.G09", "000.00.00.G22"}) {
		t.Errorf("Sender %q Recipients %q", doc.Sender(), doc.Recipients())
	}
	if org, id := doc.ResponseFor(); org != "" || id != "" {
		t.Errorf("a document's ResponseFor() = %q, %q", org, id)
	}
	if doc.StatusCode() != "" || doc.BusinessType() != BusinessNew {
		t.Errorf("StatusCode %q BusinessType %q", doc.StatusCode(), doc.BusinessType())
	}
	doc.Trace = nil
	if doc.BusinessType() != BusinessNew {
		t.Errorf("without Bussiness BusinessType = %q", doc.BusinessType())
	}
	st := sampleStatus()
	if st.Sender() != "000.00.00.G09" || st.Recipients() != nil || st.StatusCode() != StatusArrived || st.BusinessType() != "" {
		t.Errorf("status accessors: %q %q %q %q", st.Sender(), st.Recipients(), st.StatusCode(), st.BusinessType())
	}
	if org, id := st.ResponseFor(); org != "000.00.00.H26" || id != "000.00.00.H26,2024/03/05,15/UBND-VP" {
		t.Errorf("ResponseFor() = %q, %q", org, id)
	}
	for _, c := range []struct {
		code Code
		want string
	}{
		{Code{"15", "UBND-VP"}, "15/UBND-VP"}, {Code{"15", ""}, "15"}, {Code{"", "UBND-VP"}, "UBND-VP"}, {Code{}, ""},
	} {
		if got := c.code.String(); got != c.want {
			t.Errorf("%+v.String() = %q", c.code, got)
		}
	}
}
