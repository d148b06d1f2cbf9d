package edoc

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBuildGolden pins the exact layout WriteTo produces, and checks that
// reading it back gives the values it was built from.
func TestBuildGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		p    *Package
	}{
		{"document.edxml", sampleDocument()},
		{"status.edxml", sampleStatus()},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := build(t, c.p)
			golden(t, c.name, out)
			back := mustParse(t, out)
			sameValues(t, c.p, back)
			if ps := back.Validate(); len(ps) != 0 {
				t.Errorf("problems: %v", ps)
			}
			// Writing what was read gives the same bytes again.
			if again := build(t, back); !bytes.Equal(again, out) {
				t.Errorf("second build differs:\n%s", lineDiff(string(out), string(again)))
			}
		})
	}
}

// TestBuildLayout checks the properties of the official layout one by one,
// on a package read from another producer.
func TestBuildLayout(t *testing.T) {
	p := mustParse(t, readFile(t, filepath.Join("testdata", "producers", "axis-2025-shape.edxml")))
	out := string(build(t, p))
	for _, want := range []string{
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<edXML xmlns=\"" + NamespaceQCVN + "\">\n",
		"\n  <edXML:edXMLEnvelope xmlns:edXML=\"" + NamespaceQCVN + "\">\n    <edXML:edXMLHeader>\n      <edXML:MessageHeader>\n        <edXML:From>\n",
		"<edXML:TraceHeaderList>",
		"<edXML:Bussiness>", // the standard's spelling, though the input said Business
		"<edXML:BussinessDocType>0</edXML:BussinessDocType>",
		"<edXML:ResponseFor></edXML:ResponseFor>", // the empty entry is kept
		"<edXML:edXMLManifest version=\"1.0\">",
		"\n  </edXML:edXMLEnvelope>\n  <AttachmentEncoded>\n    <Attachment>\n      <ContentId>",
		"<edXML:ContentTransferEncoded xmlns:edXML=\"" + NamespaceQCVN + "\">UEsDB",
		"</AttachmentEncoded>\n</edXML>\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "Business") {
		t.Error("output uses the spelling Business")
	}
	// The input's base64 was wrapped at 76 columns; the output has it on one line.
	m := regexp.MustCompile(`ContentTransferEncoded[^>]*>([^<]*)<`).FindStringSubmatch(out)
	if m == nil || strings.ContainsAny(m[1], " \r\n\t") {
		t.Fatalf("base64 is not on one line: %q", m)
	}
}

// TestBuildDropsSignatures: neither a legacy nor an XML-DSig signature is
// written back.
func TestBuildDropsSignatures(t *testing.T) {
	for _, f := range []string{"legacy-signature-update.edxml", "xmldsig-signed.edxml"} {
		p := mustParse(t, readFile(t, filepath.Join("testdata", "producers", f)))
		if p.Signature == SignatureNone {
			t.Fatalf("%s: no signature read", f)
		}
		out := build(t, p)
		if bytes.Contains(out, []byte("Signature")) {
			t.Errorf("%s: the output carries a signature", f)
		}
		if q := mustParse(t, out); q.Signature != SignatureNone {
			t.Errorf("%s: reread signature %v", f, q.Signature)
		}
	}
}

// TestBuildEscaping: markup characters in values survive, and characters a
// reader would normalise are written as references.
func TestBuildEscaping(t *testing.T) {
	p := sampleDocument()
	values := []string{
		`a & b < c > d "e" 'f'`,
		"line 1\nline 2",
		"carriage\rreturn",
		"tab\there",
		"]]> and <![CDATA[",
		"&amp; is not decoded twice",
		"emoji 🇻🇳 and \u00a0no-break space",
	}
	p.Header.Subject = values[0]
	p.Header.Content = values[1]
	p.Header.Signer.FullName = values[2]
	p.Header.OtherInfo.SphereOfPromulgation = values[3]
	p.Header.ToPlaces = values[4:]
	p.Trace.ID = `id "with" <quotes> & tab` + "\t" + "and\nnewline"
	q := mustParse(t, build(t, p))
	got := []string{q.Header.Subject, q.Header.Content, q.Header.Signer.FullName, q.Header.OtherInfo.SphereOfPromulgation}
	got = append(got, q.Header.ToPlaces...)
	if !equalStrings(got, values) {
		t.Fatalf("values after a round trip:\n got %q\nwant %q", got, values)
	}
	if q.Trace.ID != p.Trace.ID {
		t.Fatalf("attribute after a round trip: %q, want %q", q.Trace.ID, p.Trace.ID)
	}
}

// TestBuildRejects: a value XML cannot carry is refused before anything is
// written, with an error naming the field.
func TestBuildRejects(t *testing.T) {
	cases := []struct {
		name   string
		change func(p *Package)
		path   string
	}{
		{"NUL in the subject", func(p *Package) { p.Header.Subject = "a\x00b" }, "MessageHeader/Subject"},
		{"control character in To[2]", func(p *Package) { p.Header.To[1].OrganName = "x\x1by" }, "MessageHeader/To[2]/OrganName"},
		{"invalid UTF-8", func(p *Package) { p.Trace.Business.Staff.Staff = "Tr\xe1n" }, "TraceHeaderList/Bussiness/StaffInfo/Staff"},
		{"U+FFFE", func(p *Package) { p.Header.ToPlaces[1] = "\ufffe" }, "MessageHeader/ToPlaces/Place[2]"},
		{"surrogate half", func(p *Package) { p.Header.Code.Notation = "\xed\xa0\x80" }, "MessageHeader/Code/CodeNotation"},
		{"bad attachment name", func(p *Package) { p.Attachments[0].Name = "a\x07.pdf" }, "AttachmentEncoded/Attachment[1]/AttachmentName"},
		{"bad attribute", func(p *Package) { p.Trace.Version = "\x01" }, "TraceHeaderList/@version"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := sampleDocument()
			c.change(p)
			var buf bytes.Buffer
			n, err := p.WriteTo(&buf)
			var be *BuildError
			if !errors.As(err, &be) || be.Path != c.path {
				t.Fatalf("err = %v, want a *BuildError at %s", err, c.path)
			}
			if n != 0 || buf.Len() != 0 {
				t.Fatalf("wrote %d bytes before failing", buf.Len())
			}
		})
	}
	for _, p := range []*Package{{}, {Kind: KindStatus}} {
		var be *BuildError
		if _, err := p.WriteTo(io.Discard); !errors.As(err, &be) {
			t.Errorf("WriteTo(%+v) = %v, want a *BuildError", p, err)
		}
	}
}

// hugeReader yields n deterministic bytes without holding them.
type hugeReader struct{ n, off int64 }

func (r *hugeReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.off)]
	for i := range p {
		p[i] = byte((r.off + int64(i)) * 7919 >> 3)
	}
	r.off += int64(len(p))
	return len(p), nil
}

// TestBuildStreamsAttachments writes a 16 MiB attachment from a reader:
// WriteTo must not hold it (allocation far below its size), and the output
// must decode to the same bytes.
func TestBuildStreamsAttachments(t *testing.T) {
	const size = 16 << 20
	p := sampleDocument()
	p.Manifest, p.Attachments = nil, nil
	a := NewAttachment("big.bin", "application/octet-stream", func() (io.ReadCloser, error) {
		return io.NopCloser(&hugeReader{n: size}), nil
	})
	p.AddAttachment(a)

	var n int64
	var err error
	alloc := allocatedBy(func() { n, err = p.WriteTo(io.Discard) })
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(size) / 3 * 4; n < want {
		t.Fatalf("wrote %d bytes, want more than %d", n, want)
	}
	if alloc > 2<<20 {
		t.Errorf("WriteTo allocated %d MiB for a %d MiB attachment", alloc>>20, size>>20)
	}

	// Write for real, read back, compare digests.
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	q, err := Parse(buf.Bytes(), Limits{MaxBytes: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	io.Copy(h, &hugeReader{n: size})
	sum, gotSize, err := q.Attachments[0].Digest()
	if err != nil || gotSize != size || !bytes.Equal(sum[:], h.Sum(nil)) {
		t.Fatalf("digest %x size %d err %v; want %x %d", sum, gotSize, err, h.Sum(nil), size)
	}
	want, _, _ := a.Digest()
	if want != sum {
		t.Fatalf("source digest %x, parsed %x", want, sum)
	}
}

// TestBuildSourceErrors: a failing attachment source fails WriteTo.
func TestBuildSourceErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	p := sampleDocument()
	p.Attachments[0] = NewAttachment("x.pdf", "application/pdf", func() (io.ReadCloser, error) { return nil, boom })
	if _, err := p.WriteTo(io.Discard); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	p.Attachments[0] = NewAttachment("x.pdf", "application/pdf", func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(strings.NewReader("abc"), errReader{boom})), nil
	})
	if _, err := p.WriteTo(io.Discard); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestBuildWriterErrors: an error from the destination is returned.
func TestBuildWriterErrors(t *testing.T) {
	boom := errors.New("connection reset")
	w := &failAfter{n: 100, err: boom}
	n, err := sampleDocument().WriteTo(w)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if n != 100 {
		t.Fatalf("n = %d, want the 100 bytes accepted", n)
	}
}

type failAfter struct {
	n   int
	err error
}

func (w *failAfter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		n := w.n
		w.n = 0
		return n, w.err
	}
	w.n -= len(p)
	return len(p), nil
}
