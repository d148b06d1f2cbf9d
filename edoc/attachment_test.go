package edoc

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

func zipOf(t *testing.T, name, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, body)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAttachmentContent(t *testing.T) {
	zipped := zipOf(t, "a.docx", "nội dung")
	cases := []struct {
		name        string
		contentType string
		data        []byte
		zip         bool
	}{
		{"pdf", "application/pdf", samplePDF, false},
		{"zip declared as zip", "application/zip", zipped, true},
		{"zip declared as pdf", "application/pdf", zipped, true},
		{"pdf declared as zip", "application/zip", samplePDF, false},
		{"shorter than the magic", "application/zip", []byte("PK"), false},
		{"empty", "application/octet-stream", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := bytesAttachment("cid:x", "x", c.contentType, c.data)
			p := &Package{Kind: KindDocument}
			p.AddAttachment(src)
			parsed := mustParse(t, build(t, p)).Attachments[0]
			for _, a := range []*Attachment{src, parsed} {
				sum, size, err := a.Digest()
				if err != nil || sum != sha256.Sum256(c.data) || size != int64(len(c.data)) {
					t.Errorf("parsed=%v: Digest = %x, %d, %v", a.Parsed(), sum, size, err)
				}
				if zip, err := a.IsZIP(); zip != c.zip || err != nil {
					t.Errorf("parsed=%v: IsZIP = %v, %v; want %v", a.Parsed(), zip, err, c.zip)
				}
				if got := content(t, a); !bytes.Equal(got, c.data) {
					t.Errorf("parsed=%v: content %q, want %q", a.Parsed(), got, c.data)
				}
			}
		})
	}
}

// TestAttachmentDecodeReadSizes decodes base64 with whitespace through
// readers of every read size: the result must not depend on them.
func TestAttachmentDecodeReadSizes(t *testing.T) {
	data := bytes.Repeat([]byte("edXML QCVN 102:2016 "), 50)
	enc := "\r\n" + wrap(base64Std(data), 76, "\r\n  ") + "\n"
	for _, encoded := range []struct {
		text string
		ok   bool
	}{
		{enc, true},
		{base64Std(data), true},
		{"QQ==QUJD", false},
		{"QQ== QUJD", false},
		{"QUJD====", false},
		{"QQ=", false},
		{"Q!==", false},
	} {
		a := &Attachment{encoded: encoded.text, hasEncoded: true}
		for _, size := range []int{1, 2, 3, 4, 5, 7, 64, 4096} {
			rc, _ := a.Open()
			got, err := io.ReadAll(&sizedReader{r: rc, n: size})
			if encoded.ok && (err != nil || !bytes.Equal(got, data)) {
				t.Errorf("%.10q… in reads of %d: %v", encoded.text, size, err)
			}
			if !encoded.ok && err == nil {
				t.Errorf("%q in reads of %d decoded to %q", encoded.text, size, got)
			}
		}
	}
	// iotest checks the reader's contract.
	a := &Attachment{encoded: enc, hasEncoded: true}
	rc, _ := a.Open()
	if err := iotest.TestReader(rc, data); err != nil {
		t.Fatal(err)
	}
}

type sizedReader struct {
	r io.Reader
	n int
}

func (s *sizedReader) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), s.n)]) }

func base64Std(b []byte) string {
	var sb strings.Builder
	enc := newBase64Encoder(&sb)
	enc.Write(b)
	enc.Close()
	return sb.String()
}

func wrap(s string, n int, sep string) string {
	var parts []string
	for len(s) > n {
		parts = append(parts, s[:n])
		s = s[n:]
	}
	return strings.Join(append(parts, s), sep)
}

func TestNewAttachmentReaderIsSingleUse(t *testing.T) {
	a := NewAttachmentReader("a.pdf", "application/pdf", bytes.NewReader(samplePDF))
	if !strings.HasPrefix(a.ContentID, "cid:") || len(a.ContentID) != len("cid:")+36 {
		t.Errorf("ContentID = %q, want cid:<uuid>", a.ContentID)
	}
	if b := NewAttachmentReader("b", "", nil); b.ContentID == a.ContentID {
		t.Error("two attachments share a ContentID")
	}
	if _, size, err := a.Digest(); err != nil || size != int64(len(samplePDF)) {
		t.Fatalf("Digest = %d, %v", size, err)
	}
	// The digest is cached; opening again fails.
	if _, _, err := a.Digest(); err != nil {
		t.Fatalf("cached Digest: %v", err)
	}
	if _, err := a.Open(); err == nil || !strings.Contains(err.Error(), "already consumed") {
		t.Fatalf("second Open: %v", err)
	}
}

func TestAttachmentWithoutContent(t *testing.T) {
	a := &Attachment{ContentID: "cid:1"}
	if _, err := a.Open(); err == nil {
		t.Error("Open succeeded")
	}
	if _, _, err := a.Digest(); err == nil {
		t.Error("Digest succeeded")
	}
}

// TestAttachmentConcurrentDigest is meant for -race.
func TestAttachmentConcurrentDigest(t *testing.T) {
	a := &Attachment{encoded: base64Std(samplePDF), hasEncoded: true}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if sum, _, err := a.Digest(); err != nil || sum != sha256.Sum256(samplePDF) {
				t.Errorf("Digest = %x, %v", sum, err)
			}
			if zip, err := a.IsZIP(); zip || err != nil {
				t.Errorf("IsZIP = %v, %v", zip, err)
			}
		}()
	}
	wg.Wait()
}

func TestContentIDMatching(t *testing.T) {
	cases := []struct {
		a, b string
		same bool
	}{
		{"cid:209", "cid:209", true},
		{"cid:209", "209", true},
		{"CID:209", "209", true},
		{"209", "209", true},
		{"cid:209", "cid:2090", false},
		{"cid:cid:209", "209", false},
		{"", "cid:", true},
	}
	for _, c := range cases {
		if got := sameContentID(c.a, c.b); got != c.same {
			t.Errorf("sameContentID(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func newBase64Encoder(w io.Writer) io.WriteCloser { return base64.NewEncoder(base64.StdEncoding, w) }
