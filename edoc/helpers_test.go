package edoc

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

// readFile returns the content of a file, failing t if it cannot.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustParse parses b with default limits.
func mustParse(t testing.TB, b []byte) *Package {
	t.Helper()
	p, err := Parse(b, Limits{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return p
}

// build writes p and returns the bytes, checking the count WriteTo returns.
func build(t testing.TB, p *Package) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := p.WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	return buf.Bytes()
}

// content returns the decoded bytes of an attachment.
func content(t testing.TB, a *Attachment) []byte {
	t.Helper()
	rc, err := a.Open()
	if err != nil {
		t.Fatalf("open %s: %v", a.ContentID, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", a.ContentID, err)
	}
	return b
}

// values returns p without what a round trip does not keep (the signature
// kind) and without the attachments, which sameValues compares apart.
func values(p *Package) Package {
	v := *p
	v.Signature = SignatureNone
	v.Attachments = nil
	return v
}

// sameValues fails t unless want and got hold equal values and attachments
// with equal metadata and byte-identical content.
func sameValues(t testing.TB, want, got *Package) {
	t.Helper()
	w, g := values(want), values(got)
	if !reflect.DeepEqual(w, g) {
		wj, _ := json.MarshalIndent(w, "", " ")
		gj, _ := json.MarshalIndent(g, "", " ")
		t.Fatalf("values differ:\n%s", lineDiff(string(wj), string(gj)))
	}
	if len(want.Attachments) != len(got.Attachments) {
		t.Fatalf("%d attachments, want %d", len(got.Attachments), len(want.Attachments))
	}
	for i, wa := range want.Attachments {
		ga := got.Attachments[i]
		wm := [6]string{wa.ContentID, wa.Name, wa.Description, wa.ContentType, wa.FieldName, wa.MimeType}
		gm := [6]string{ga.ContentID, ga.Name, ga.Description, ga.ContentType, ga.FieldName, ga.MimeType}
		if wm != gm {
			t.Fatalf("attachment %d metadata: got %q, want %q", i+1, gm, wm)
		}
		if !bytes.Equal(content(t, wa), content(t, ga)) {
			t.Fatalf("attachment %d (%s): content differs after the round trip", i+1, wa.ContentID)
		}
	}
}

// lineDiff shows the lines of a and b that differ, with a little context.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out.WriteString("- " + x + "\n+ " + y + "\n")
		}
	}
	return out.String()
}

// fixtures returns the files matching pattern under testdata.
func fixtures(t testing.TB, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures match testdata/%s (%v)", pattern, err)
	}
	return files
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := readFile(t, path)
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s (run go test -update to accept):\n%s", path, lineDiff(string(want), string(got)))
	}
}

// problemKeys returns "path rule severity" for each problem, for
// comparisons that ignore messages.
func problemKeys(ps []Problem) []string {
	keys := make([]string, len(ps))
	for i, p := range ps {
		keys[i] = p.Path + " " + p.Rule + " " + p.Severity.String()
	}
	return keys
}
