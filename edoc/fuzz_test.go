package edoc

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// fuzzLimits keep each fuzz input cheap.
var fuzzLimits = Limits{MaxBytes: 1 << 20, MaxDepth: 32, MaxElements: 20_000}

// FuzzParse feeds arbitrary bytes to Parse. Whatever it reads must be
// writable, and reading what was written must give the same values: a
// package can never mean one thing to edoc and another after a rewrite.
// The seed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(hdrOpen + `<From><OrganId>000.00.00.G22<!---->X</OrganId></From>` + hdrClose))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, fuzzLimits)
		if err != nil {
			var le *LimitError
			var se *SyntaxError
			var pe *ParseError
			if p != nil || !(errors.As(err, &le) || errors.As(err, &se) || errors.As(err, &pe)) {
				t.Fatalf("Parse = %v, %T %v", p, err, err)
			}
			return
		}
		roundTrip(t, p)
	})
}

// roundTrip writes p, reads it back and checks that values, attachments
// and validation problems are unchanged.
func roundTrip(t *testing.T, p *Package) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		t.Fatalf("WriteTo of a parsed package: %v", err)
	}
	q, err := Parse(buf.Bytes(), Limits{MaxBytes: 8 << 20, MaxDepth: 32, MaxElements: 40_000})
	if err != nil {
		t.Fatalf("reading what WriteTo wrote: %v\n%s", err, buf.Bytes())
	}
	if !reflect.DeepEqual(values(p), values(q)) {
		t.Fatalf("values changed in a round trip:\n%+v\n%+v", values(p), values(q))
	}
	if len(p.Attachments) != len(q.Attachments) {
		t.Fatalf("%d attachments became %d", len(p.Attachments), len(q.Attachments))
	}
	for i, a := range p.Attachments {
		b := q.Attachments[i]
		if a.ContentID != b.ContentID || a.Name != b.Name || a.ContentType != b.ContentType || a.Parsed() != b.Parsed() {
			t.Fatalf("attachment %d metadata changed", i)
		}
		ca, errA := readAll(a)
		cb, errB := readAll(b)
		if (errA == nil) != (errB == nil) || !bytes.Equal(ca, cb) {
			t.Fatalf("attachment %d: %q, %v became %q, %v", i, ca, errA, cb, errB)
		}
	}
	if pk, qk := problemKeys(p.Validate()), problemKeys(q.Validate()); !equalStrings(pk, qk) {
		t.Fatalf("problems changed in a round trip:\n%q\n%q", pk, qk)
	}
}

func readAll(a *Attachment) ([]byte, error) {
	rc, err := a.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// FuzzValidate checks the validator's rules against independent oracles
// on arbitrary values, and that a package's problems survive a rewrite.
// data, when it parses, is validated too. The seed corpus is in
// testdata/fuzz/FuzzValidate.
func FuzzValidate(f *testing.F) {
	f.Add([]byte(nil), "000.00.00.G22", "2024/02/29", "2024/02/29 23:59:59", "14", "cid:a1", "QUJD")
	f.Fuzz(func(t *testing.T, data []byte, organID, date, timestamp, code, contentID, encoded string) {
		if p, err := Parse(data, fuzzLimits); err == nil {
			checkProblems(t, p.Validate())
			roundTrip(t, p)
		}
		// Values as Parse would give them: trimmed, and base64 text that
		// XML could carry.
		if checkXMLText(encoded) != nil {
			encoded = ""
		}
		// Values as Parse would give them: trimmed.
		organID, date, timestamp = trimSpace(organID), trimSpace(date), trimSpace(timestamp)
		code, contentID = trimSpace(code), trimSpace(contentID)

		doc := sampleDocument()
		doc.Header.From.OrganID = organID
		doc.Header.Promulgation.Date = Date{Raw: date}
		doc.Trace.Headers[0].Timestamp = Timestamp{Raw: timestamp}
		doc.Attachments[0] = &Attachment{ContentID: contentID, Name: "x.pdf", encoded: encoded, hasEncoded: true}
		problems := doc.Validate()
		checkProblems(t, problems)
		has := func(path, rule string) bool {
			for _, p := range problems {
				if p.Path == path && p.Rule == rule {
					return true
				}
			}
			return false
		}
		const from = "MessageHeader/From/OrganId"
		if organID != "" && IsOrganID(organID) == has(from, "organid") {
			t.Errorf("OrganId %q: IsOrganID %v but organid problem %v", organID, IsOrganID(organID), has(from, "organid"))
		}
		if organID != "" && IsOrganID(organID) && IsQCVNOrganID(organID) == has(from, "organid-qcvn") {
			t.Errorf("OrganId %q: strict %v but organid-qcvn problem %v", organID, IsQCVNOrganID(organID), has(from, "organid-qcvn"))
		}
		if _, err := (Date{Raw: date}).Time(); date != "" && (err == nil) == has("MessageHeader/PromulgationInfo/PromulgationDate", "date") {
			t.Errorf("date %q: Time error %v, date problem %v", date, err, !(err == nil))
		}
		if _, err := (Timestamp{Raw: timestamp}).Time(); timestamp != "" && (err == nil) == has("TraceHeaderList/TraceHeader[1]/Timestamp", "timestamp") {
			t.Errorf("timestamp %q: Time error %v", timestamp, err)
		}
		matched := contentID != "" && sameContentID(contentID, doc.Manifest[0].ContentID)
		if contentID != "" && matched == has("edXMLManifest/Reference[1]/ContentId", "manifest-unmatched") {
			t.Errorf("ContentId %q matched %v", contentID, matched)
		}
		if _, _, err := doc.Attachments[0].Digest(); (err != nil) != has("AttachmentEncoded/Attachment[1]/ContentTransferEncoded", "base64") {
			t.Errorf("base64 %q: Digest error %v", encoded, err)
		}

		st := sampleStatus()
		st.Status.CodeRaw, st.Status.Code = code, ParseStatusCode(code)
		st.Status.Timestamp = Timestamp{Raw: timestamp}
		stProblems := st.Validate()
		checkProblems(t, stProblems)
		if st.Status.Code.Known() && HasErrors(stProblems) && (timestamp == "" || isValidTimestamp(timestamp)) {
			t.Errorf("known code %q gave errors: %v", code, stProblems)
		}

		// A package that can be written keeps its problems when read back.
		for _, p := range []*Package{doc, st} {
			var buf bytes.Buffer
			if _, err := p.WriteTo(&buf); err != nil {
				var be *BuildError
				if !errors.As(err, &be) || buf.Len() != 0 {
					t.Fatalf("WriteTo: %v after %d bytes", err, buf.Len())
				}
				// Check each value on its own: two invalid halves of a UTF-8
				// sequence ("\xc4", "\x80") concatenate into a valid one.
				allValid := true
				for _, s := range []string{organID, date, timestamp, code, contentID} {
					allValid = allValid && checkXMLText(s) == nil
				}
				if allValid && !strings.ContainsAny(encoded, "&<>") {
					t.Fatalf("WriteTo refused valid text: %v", err)
				}
				continue
			}
			q, err := Parse(buf.Bytes(), Limits{})
			if err != nil {
				t.Fatalf("reading what WriteTo wrote: %v", err)
			}
			if pk, qk := problemKeys(p.Validate()), problemKeys(q.Validate()); !equalStrings(pk, qk) {
				t.Fatalf("problems changed in a round trip:\n%q\n%q", pk, qk)
			}
		}
	})
}

func isValidTimestamp(s string) bool { _, err := (Timestamp{Raw: s}).Time(); return err == nil }

func checkProblems(t *testing.T, ps []Problem) {
	t.Helper()
	for _, p := range ps {
		if p.Path == "" || p.Rule == "" || p.Message == "" || (p.Severity != Error && p.Severity != Warning) {
			t.Fatalf("malformed problem %#v", p)
		}
	}
}
