package edoc

import (
	"bytes"
	"io"
	"time"
)

// samplePDF is the content of the sample documents' attachment.
var samplePDF = []byte("%PDF-1.4\n% Báo cáo định kỳ quý I\n%%EOF\n")

// bytesAttachment returns an attachment over b with a fixed ContentID.
func bytesAttachment(id, name, contentType string, b []byte) *Attachment {
	a := NewAttachment(name, contentType, func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
	a.ContentID = id
	return a
}

// sampleDocument is a valid document package with every modelled field set.
func sampleDocument() *Package {
	p := &Package{
		Kind: KindDocument,
		Header: MessageHeader{
			From: Organization{
				OrganID: "000.00.00.H26", OrganizationInCharge: "UBND Thành phố Hà Nội", OrganName: "Văn phòng UBND",
				OrganAdd: "79 Đinh Tiên Hoàng, Hoàn Kiếm", Email: "vanthu@hanoi.gov.vn", Telephone: "024 3825 3536",
				Fax: "024 3825 3537", Website: "hanoi.gov.vn",
			},
			To: []Organization{
				{OrganID: "000.00.00.G09", OrganName: "Bộ Nội vụ"},
				{OrganID: "000.00.00.G22", OrganName: "Văn phòng Chính phủ"},
			},
			DocumentID:   "000.00.00.H26,2024/03/05,15/UBND-VP",
			Code:         Code{Number: "15", Notation: "UBND-VP"},
			Promulgation: PromulgationInfo{Place: "Hà Nội", Date: Date{Raw: "2024/03/05"}},
			DocumentType: DocumentType{Type: "1", TypeDetail: "0", TypeName: "Báo cáo"},
			Subject:      "Báo cáo định kỳ quý I & kế hoạch <quý II>",
			Content:      `Tổng hợp "số liệu" quý I`,
			Signer:       SignerInfo{Competence: "KT. CHỦ TỊCH", Position: "Phó Chủ tịch", FullName: "Nguyễn Văn A"},
			DueDate:      Date{Raw: "2024/03/20"},
			OtherInfo: OtherInfo{
				Priority: PriorityUrgent, SphereOfPromulgation: "Liên thông văn bản quốc gia", TyperNotation: "NVA",
				PromulgationAmount: "3", PageAmount: "12", Direction: "false",
				Appendixes: []string{"Phụ lục 1", "Phụ lục 2"},
			},
			ResponseFor: []ResponseFor{
				{OrganID: "000.00.00.G09", Code: "102/BNV-VP", PromulgationDate: Date{Raw: "2024/02/01"}, DocumentID: "000.00.00.G09,2024/02/01,102/BNV-VP"},
				{},
			},
			SteeringType:    "1",
			ApplicationType: "1",
			ResponseForTask: []string{"TASK-1"},
			ToPlaces:        []string{"Như trên", "Lưu: VT"},
		},
		Trace: &TraceHeaderList{
			ID: "th-1", Version: "1.0",
			Headers: []TraceHeader{{OrganID: "000.00.00.H26", Timestamp: Timestamp{Raw: "2024/03/05 09:30:00"}}},
			Business: &Business{
				DocType: BusinessNew, DocReason: "Văn bản điện tử mới", Paper: "0",
				Staff: StaffInfo{Department: "Văn thư", Staff: "Trần Thị B", Email: "b@hanoi.gov.vn", Mobile: "0912000001"},
			},
		},
	}
	a := bytesAttachment("cid:a1", "15-UBND-VP.pdf", "application/pdf", samplePDF)
	a.Description = "Văn bản"
	p.AddAttachment(a)
	return p
}

// sampleStatus is a valid status package answering sampleDocument.
func sampleStatus() *Package {
	doc := sampleDocument()
	p, err := NewStatus(doc, doc.Header.To[0], StatusArrived, "Đã đến", StaffInfo{Department: "Văn thư", Staff: "Lê Văn C"},
		time.Date(2024, 3, 5, 3, 0, 0, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	return p
}
