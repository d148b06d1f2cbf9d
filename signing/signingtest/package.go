package signingtest

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
)

// PackageOptions shape a synthetic edXML package.
type PackageOptions struct {
	// Size is the approximate size in bytes: the attachment is padded to
	// reach it. Below the skeleton's size (about 4 KB) the attachment is
	// small.
	Size int
	// Places adds that many ToPlaces/Place elements, to make packages with
	// many elements.
	Places int
	// LegacySignature adds the QCVN-namespace Signature block the official
	// SDK writes as the last child of edXMLHeader (rsa-sha1, non-standard
	// transform URI, placeholder values).
	LegacySignature bool
	// Seed selects the attachment bytes (deterministic for a seed).
	Seed uint64
}

// Package returns an edXML document package (messagetype edoc) shaped like
// the official samples: MessageHeader, TraceHeaderList, manifest and one
// base64 attachment, with Vietnamese text, indented.
func Package(opts PackageOptions) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">
  <edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <edXML:From>
          <edXML:OrganId>000.00.00.G22</edXML:OrganId>
          <edXML:OrganizationInCharge>Văn phòng Chính phủ</edXML:OrganizationInCharge>
          <edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName>
          <edXML:OrganAdd>Số 1 Hoàng Hoa Thám, Ba Đình, Hà Nội</edXML:OrganAdd>
          <edXML:Email>vanthu@chinhphu.example.vn</edXML:Email>
          <edXML:Telephone>0243 000 0000</edXML:Telephone>
        </edXML:From>
        <edXML:To>
          <edXML:OrganId>000.00.00.H41</edXML:OrganId>
          <edXML:OrganName>UBND Tỉnh Nghệ An</edXML:OrganName>
        </edXML:To>
        <edXML:DocumentId>000.00.00.G22,2026/03/02,123/VPCP-KSTT</edXML:DocumentId>
        <edXML:Code>
          <edXML:CodeNumber>123</edXML:CodeNumber>
          <edXML:CodeNotation>VPCP-KSTT</edXML:CodeNotation>
        </edXML:Code>
        <edXML:PromulgationInfo>
          <edXML:Place>Hà Nội</edXML:Place>
          <edXML:PromulgationDate>2026/03/02</edXML:PromulgationDate>
        </edXML:PromulgationInfo>
        <edXML:DocumentType>
          <edXML:Type>1</edXML:Type>
          <edXML:TypeDetail>0</edXML:TypeDetail>
          <edXML:TypeName>Công văn</edXML:TypeName>
        </edXML:DocumentType>
        <edXML:Subject>V/v triển khai trục liên thông văn bản quốc gia &amp; kiểm thử chữ ký số</edXML:Subject>
        <edXML:Content>Đề nghị các cơ quan, đơn vị phối hợp kiểm thử gói tin edXML có chữ ký số.</edXML:Content>
        <edXML:SignerInfo>
          <edXML:Competence>KT. BỘ TRƯỞNG, CHỦ NHIỆM</edXML:Competence>
          <edXML:Position>Phó Chủ nhiệm</edXML:Position>
          <edXML:FullName>Nguyễn Văn A</edXML:FullName>
        </edXML:SignerInfo>
        <edXML:DueDate>2026/03/31</edXML:DueDate>
        <edXML:OtherInfo>
          <edXML:Priority>1</edXML:Priority>
          <edXML:SphereOfPromulgation>Liên thông văn bản quốc gia</edXML:SphereOfPromulgation>
          <edXML:TyperNotation>NVA</edXML:TyperNotation>
          <edXML:PromulgationAmount>2</edXML:PromulgationAmount>
          <edXML:PageAmount>3</edXML:PageAmount>
        </edXML:OtherInfo>
        <edXML:SteeringType>1</edXML:SteeringType>
        <edXML:ToPlaces>
          <edXML:Place>Các bộ, cơ quan ngang bộ</edXML:Place>
`)
	for i := range opts.Places {
		fmt.Fprintf(&b, "          <edXML:Place>Nơi nhận số %d</edXML:Place>\n", i+1)
	}
	b.WriteString(`        </edXML:ToPlaces>
      </edXML:MessageHeader>
      <edXML:TraceHeaderList>
        <edXML:TraceHeader>
          <edXML:OrganId>000.00.00.G22</edXML:OrganId>
          <edXML:Timestamp>2026/03/02 08:00:00</edXML:Timestamp>
        </edXML:TraceHeader>
        <edXML:Bussiness>
          <edXML:BussinessDocType>0</edXML:BussinessDocType>
          <edXML:BussinessDocReason>Văn bản điện tử mới</edXML:BussinessDocReason>
          <edXML:Paper>0</edXML:Paper>
          <edXML:StaffInfo>
            <edXML:Department>Văn thư</edXML:Department>
            <edXML:Staff>Trần Thị B</edXML:Staff>
          </edXML:StaffInfo>
        </edXML:Bussiness>
      </edXML:TraceHeaderList>
`)
	if opts.LegacySignature {
		b.WriteString(`      <Signature>
        <SignedInfo>
          <CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315" />
          <SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1" />
          <Reference URI="">
            <Transforms>
              <Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature" />
              <Transform Algorithm="http://www.w3.org/TR/xml-exc-c14n#" />
            </Transforms>
            <DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1" />
            <DigestValue>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</DigestValue>
          </Reference>
        </SignedInfo>
        <SignatureValue>AAAA</SignatureValue>
        <KeyInfo>
          <X509Data>
            <X509SubjectName>CN=placeholder</X509SubjectName>
            <X509Certificate>MIIFqTCCBJG</X509Certificate>
          </X509Data>
        </KeyInfo>
      </Signature>
`)
	}
	b.WriteString(`    </edXML:edXMLHeader>
    <edXML:edXMLBody>
      <edXML:edXMLManifest version="1.0">
        <edXML:Reference>
          <edXML:ContentId>cid:6f1c1c1e-1111-2222-3333-444455556666</edXML:ContentId>
          <edXML:ContentType>application/pdf</edXML:ContentType>
          <edXML:Description>Văn bản</edXML:Description>
          <edXML:AttachmentName>123-VPCP-KSTT.pdf</edXML:AttachmentName>
        </edXML:Reference>
      </edXML:edXMLManifest>
    </edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded>
    <Attachment>
      <ContentId>cid:6f1c1c1e-1111-2222-3333-444455556666</ContentId>
      <AttachmentName>123-VPCP-KSTT.pdf</AttachmentName>
      <Description>Văn bản</Description>
      <ContentType>application/pdf</ContentType>
      <edXML:ContentTransferEncoded xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">`)
	const tail = "</edXML:ContentTransferEncoded>\n    </Attachment>\n  </AttachmentEncoded>\n</edXML>\n"
	n := max(opts.Size-b.Len()-len(tail), 64) * 3 / 4
	raw := make([]byte, n)
	copy(raw, "%PDF-1.7\n")
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], opts.Seed)
	rng := rand.NewChaCha8(seed)
	rng.Read(raw[min(9, n):])
	b.WriteString(base64.StdEncoding.EncodeToString(raw))
	b.WriteString(tail)
	return []byte(b.String())
}
