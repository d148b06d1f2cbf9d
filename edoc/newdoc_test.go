package edoc_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/edoc"
)

func TestNewDocument(t *testing.T) {
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, edoc.ICT)
	att := edoc.NewAttachment("cong-van.txt", "text/plain", func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("Nội dung công văn")), nil
	})
	p, err := edoc.NewDocument(edoc.DocumentSpec{
		From:        edoc.Organization{OrganID: "000.00.00.G22", OrganName: "Văn phòng Chính phủ"},
		To:          []edoc.Organization{{OrganID: "000.00.00.H26", OrganName: "UBND thành phố Hà Nội"}},
		Code:        edoc.Code{Number: "12", Notation: "VPCP-TH"},
		Place:       "Hà Nội",
		Date:        at,
		TypeName:    "Công văn",
		Subject:     "V/v thử nghiệm trục liên thông",
		Signer:      edoc.SignerInfo{Competence: "KT. BỘ TRƯỞNG", Position: "Thứ trưởng", FullName: "Nguyễn Văn A"},
		Attachments: []*edoc.Attachment{att},
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := edoc.Parse(buf.Bytes(), edoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := back.Header.DocumentID, "000.00.00.G22,2026/11/22,12/VPCP-TH"; got != want {
		t.Errorf("DocumentId = %q, want %q", got, want)
	}
	if back.Sender() != "000.00.00.G22" || len(back.Recipients()) != 1 || len(back.Attachments) != 1 {
		t.Errorf("round trip lost routing or attachments: %+v", back.Header)
	}
	for _, pr := range back.Validate() {
		if pr.Severity == edoc.Error {
			t.Errorf("problem: %+v", pr)
		}
	}

	if _, err := edoc.NewDocument(edoc.DocumentSpec{From: edoc.Organization{OrganID: "bad id"}}); err == nil {
		t.Error("NewDocument accepted a bad From/OrganId and no recipients")
	}
}
