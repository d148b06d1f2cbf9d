package edoc

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Red-team tests: hostile inputs under the default 16 MiB cap that must
// not cost more than a small multiple of their size.

// manyReferences returns a document with n manifest References and n
// Attachments, every ContentId distinct (the attachments carry none), so
// that nothing matches: a few MiB and under the element cap.
func manyReferences(n int) []byte {
	var b strings.Builder
	b.WriteString(hdrOpen + `<From><OrganId>000.00.00.G22</OrganId></From></MessageHeader></edXMLHeader><edXMLBody><edXMLManifest>`)
	for i := range n {
		b.WriteString("<Reference><ContentId>" + strconv.Itoa(i) + "</ContentId></Reference>")
	}
	b.WriteString(`</edXMLManifest></edXMLBody></edXMLEnvelope><AttachmentEncoded>`)
	for range n {
		b.WriteString("<Attachment/>")
	}
	b.WriteString(`</AttachmentEncoded></edXML>`)
	return []byte(b.String())
}

// TestRedteamValidateManifestNotQuadratic: Validate matched every manifest
// Reference against every Attachment, so 60,000 of each (4 MiB, 180,000
// elements, within the default limits) took about half a minute of CPU.
func TestRedteamValidateManifestNotQuadratic(t *testing.T) {
	raw := manyReferences(60_000)
	if len(raw) > DefaultMaxBytes {
		t.Fatalf("input %d bytes is over the default cap", len(raw))
	}
	p := mustParse(t, raw)
	start := time.Now()
	problems := p.Validate()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Validate took %v for a %d KiB package", d, len(raw)>>10)
	}
	if len(problems) < 60_000 {
		t.Fatalf("%d problems, want every Reference unmatched", len(problems))
	}
}

// TestRedteamTinyAttachmentsAllocation: decoding an attachment allocated
// 112 KiB of scratch space however short its base64 text, so 50,000
// four-character attachments (4 MiB) made Validate allocate over 5 GiB.
func TestRedteamTinyAttachmentsAllocation(t *testing.T) {
	const n = 50_000
	var b strings.Builder
	b.WriteString(hdrOpen + `<From><OrganId>000.00.00.G22</OrganId></From></MessageHeader></edXMLHeader></edXMLEnvelope><AttachmentEncoded>`)
	for range n {
		b.WriteString("<Attachment><ContentTransferEncoded>QUJD</ContentTransferEncoded></Attachment>")
	}
	b.WriteString(`</AttachmentEncoded></edXML>`)
	p := mustParse(t, []byte(b.String()))
	alloc := allocatedBy(func() { p.Validate() })
	if bound := uint64(32 * b.Len()); alloc > bound {
		t.Fatalf("Validate allocated %d MiB for a %d KiB package (bound %d MiB)", alloc>>20, b.Len()>>10, bound>>20)
	}
	for i, a := range p.Attachments {
		if got := string(content(t, a)); got != "ABC" {
			t.Fatalf("attachment %d = %q", i, got)
		}
	}
}

// TestRedteamWriteToKeepsValues: Parse trims XML whitespace around every
// text value, so a value written with it came back as another value (a
// DocumentId " X" as "X", an OrganId "000.00.00.G22\n" that Validate
// refuses as one it accepts), and readers that do not trim saw the
// untrimmed one. WriteTo must refuse such a value rather than write XML
// that reads differently.
func TestRedteamWriteToKeepsValues(t *testing.T) {
	cases := []struct {
		name   string
		change func(p *Package)
	}{
		{"leading space", func(p *Package) { p.Header.DocumentID = " " + p.Header.DocumentID }},
		{"trailing newline in an OrganId", func(p *Package) { p.Header.From.OrganID += "\n" }},
		{"trailing CR", func(p *Package) { p.Header.Subject += "\r" }},
		{"blank list entry", func(p *Package) { p.Header.ToPlaces[0] = " \t" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := sampleDocument()
			c.change(p)
			want := values(p)
			var buf bytes.Buffer
			_, err := p.WriteTo(&buf)
			if err == nil {
				got := values(mustParse(t, buf.Bytes()))
				if !reflect.DeepEqual(want.Header, got.Header) {
					t.Fatal("WriteTo accepted a value that reads back as another value")
				}
				return
			}
			var be *BuildError
			if !errors.As(err, &be) || buf.Len() != 0 {
				t.Fatalf("err = %v after %d bytes, want a *BuildError and nothing written", err, buf.Len())
			}
		})
	}
}
