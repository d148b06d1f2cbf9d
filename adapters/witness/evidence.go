package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/bus"
)

// Evidence is what a witness keeps when the log showed it two checkpoints
// that it could not prove consistent: both signed notes as received, and
// the consistency proof the log gave (empty for two checkpoints of one
// size).
type Evidence struct {
	DetectedAt time.Time
	Witness    string // the witness's key name
	Reason     string // why the witness refused, one line
	Old, New   []byte // the last checkpoint witnessed and the one refused (notes), either order of size
	Proof      [][32]byte
}

// The evidence file format, a text file for people first:
//
//	truc witness split-view evidence
//	detected-at: <RFC 3339 UTC>
//	witness: <key name>
//	reason: <one line>
//
//	<free text, ignored when read>
//
//	== old checkpoint ==
//	    <each line of the signed note, indented by four spaces>
//	== new checkpoint ==
//	    ...
//	== consistency proof ==
//	    <one base64 hash per line>
//	== end ==
//
// The magic line and the section names are wire constants.
const (
	evidenceMagic   = "truc witness split-view evidence"
	sectionOld      = "== old checkpoint =="
	sectionNew      = "== new checkpoint =="
	sectionProof    = "== consistency proof =="
	sectionEnd      = "== end =="
	evidenceIndent  = "    "
	maxEvidenceSize = 4*bus.MaxSignedCheckpointLen + 64<<10
)

// MarshalText writes the evidence file.
func (e *Evidence) MarshalText() ([]byte, error) {
	for _, f := range []struct{ name, v string }{{"witness", e.Witness}, {"reason", e.Reason}} {
		if err := checkHeaderValue(f.v); err != nil {
			return nil, fmt.Errorf("evidence %s: %w", f.name, err)
		}
	}
	if len(e.Proof) > bus.MaxProofLen {
		return nil, fmt.Errorf("evidence proof: at most %d hashes, got %d", bus.MaxProofLen, len(e.Proof))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\ndetected-at: %s\nwitness: %s\nreason: %s\n\n", evidenceMagic,
		e.DetectedAt.UTC().Format(time.RFC3339Nano), e.Witness, e.Reason)
	b.WriteString(`The transparency log of the axis signed both checkpoints below, and this
witness could not verify that one of them extends the other: the log has
shown two different histories, or failed to prove that it did not. Send
this file to the axis operator and the auditors. Check it with the log's
key (witness.ParseEvidence, Evidence.Verify).

`)
	for _, sec := range []struct {
		name string
		note []byte
	}{{sectionOld, e.Old}, {sectionNew, e.New}} {
		if len(sec.note) == 0 || sec.note[len(sec.note)-1] != '\n' || !utf8.Valid(sec.note) {
			return nil, fmt.Errorf("evidence %s: a signed note is UTF-8 text ending in a newline", strings.Trim(sec.name, "= "))
		}
		b.WriteString(sec.name + "\n")
		for _, line := range strings.SplitAfter(string(sec.note[:len(sec.note)-1]), "\n") {
			b.WriteString(evidenceIndent + line)
		}
		b.WriteString("\n")
	}
	b.WriteString(sectionProof + "\n")
	for _, h := range e.Proof {
		b.WriteString(evidenceIndent + base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteString(sectionEnd + "\n")
	return b.Bytes(), nil
}

func checkHeaderValue(v string) error {
	if !utf8.ValidString(v) {
		return errors.New("must be valid UTF-8")
	}
	if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
		return fmt.Errorf("must be one line without control characters (%U at byte %d)", []rune(v[i:])[0], i)
	}
	return nil
}

// ParseEvidence reads an evidence file written by MarshalText. It checks
// the format only; Verify checks the signatures and the proof.
func ParseEvidence(b []byte) (*Evidence, error) {
	if len(b) > maxEvidenceSize {
		return nil, fmt.Errorf("evidence: at most %d bytes, got %d", maxEvidenceSize, len(b))
	}
	if !utf8.Valid(b) {
		return nil, errors.New("evidence: not valid UTF-8")
	}
	text, ok := strings.CutSuffix(string(b), "\n")
	if !ok {
		return nil, errors.New("evidence: the file must end with a newline")
	}
	lines := strings.Split(text, "\n")
	if lines[0] != evidenceMagic {
		return nil, fmt.Errorf("evidence: the first line must be %q", evidenceMagic)
	}
	e := &Evidence{}
	seen := map[string]bool{}
	i := 1
	for ; i < len(lines) && lines[i] != ""; i++ {
		key, val, ok := strings.Cut(lines[i], ": ")
		if !ok || seen[key] {
			return nil, fmt.Errorf("evidence: line %d: a header is \"key: value\", each key once", i+1)
		}
		seen[key] = true
		if err := checkHeaderValue(val); err != nil {
			return nil, fmt.Errorf("evidence: line %d: %s: %w", i+1, key, err)
		}
		switch key {
		case "detected-at":
			t, err := time.Parse(time.RFC3339Nano, val)
			if err != nil {
				return nil, fmt.Errorf("evidence: line %d: detected-at: an RFC 3339 time, got %q", i+1, clip(val))
			}
			e.DetectedAt = t.UTC()
		case "witness":
			e.Witness = val
		case "reason":
			e.Reason = val
		default:
			return nil, fmt.Errorf("evidence: line %d: unknown header %q", i+1, clip(key))
		}
	}
	if !seen["detected-at"] || !seen["witness"] || !seen["reason"] {
		return nil, errors.New("evidence: the headers detected-at, witness and reason are required")
	}
	// Skip the free text up to the first section.
	for i < len(lines) && lines[i] != sectionOld {
		if strings.HasPrefix(lines[i], "== ") {
			return nil, fmt.Errorf("evidence: line %d: expected %q first", i+1, sectionOld)
		}
		i++
	}
	section := func(name string) ([]string, error) {
		if i >= len(lines) || lines[i] != name {
			return nil, fmt.Errorf("evidence: line %d: expected %q", i+1, name)
		}
		i++
		var body []string
		for ; i < len(lines) && !strings.HasPrefix(lines[i], "== "); i++ {
			l, ok := strings.CutPrefix(lines[i], evidenceIndent)
			if !ok {
				return nil, fmt.Errorf("evidence: line %d: lines of a section are indented by four spaces", i+1)
			}
			body = append(body, l)
		}
		return body, nil
	}
	for _, sec := range []struct {
		name string
		dst  *[]byte
	}{{sectionOld, &e.Old}, {sectionNew, &e.New}} {
		body, err := section(sec.name)
		if err != nil {
			return nil, err
		}
		if len(body) == 0 {
			return nil, fmt.Errorf("evidence: %s is empty", sec.name)
		}
		*sec.dst = []byte(strings.Join(body, "\n") + "\n")
	}
	body, err := section(sectionProof)
	if err != nil {
		return nil, err
	}
	if e.Proof, err = parseProof(body); err != nil {
		return nil, fmt.Errorf("evidence: consistency proof: %w", err)
	}
	if i != len(lines)-1 || lines[i] != sectionEnd {
		return nil, fmt.Errorf("evidence: line %d: expected %q as the last line", i+1, sectionEnd)
	}
	return e, nil
}

// Verify checks the evidence offline with the log's keys. It returns nil
// when the evidence holds: both checkpoints are signed by the log (under
// one origin), and the proof does not show that the smaller one is a
// prefix of the larger. conclusive is true when that is beyond doubt (two
// checkpoints of one size with different roots); for different sizes, the
// log should be asked for a consistency proof between the two sizes: an
// honest log can always give one, so a log that cannot is caught.
func (e *Evidence) Verify(logKeys note.Verifiers) (conclusive bool, err error) {
	a, err := bus.OpenCheckpoint(e.Old, logKeys)
	if err != nil {
		return false, fmt.Errorf("evidence: the old checkpoint: %w", err)
	}
	b, err := bus.OpenCheckpoint(e.New, logKeys)
	if err != nil {
		return false, fmt.Errorf("evidence: the new checkpoint: %w", err)
	}
	if a.Origin != b.Origin {
		return false, fmt.Errorf("evidence: the checkpoints are of two logs (%s and %s), which is no split view", clip(a.Origin), clip(b.Origin))
	}
	if a.Size > b.Size {
		a, b = b, a
	}
	if err := bus.VerifyConsistency(a.Checkpoint, b.Checkpoint, e.Proof); err == nil {
		return false, fmt.Errorf("evidence: the proof shows the checkpoint of size %d extends the one of size %d: no split view", b.Size, a.Size)
	}
	return a.Size == b.Size, nil
}

// parseProof reads a consistency proof: one standard base64 SHA-256 hash
// per line, at most bus.MaxProofLen.
func parseProof(lines []string) ([][32]byte, error) {
	if len(lines) > bus.MaxProofLen {
		return nil, fmt.Errorf("at most %d hashes, got %d", bus.MaxProofLen, len(lines))
	}
	proof := make([][32]byte, 0, len(lines))
	for i, l := range lines {
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != 32 || base64.StdEncoding.EncodeToString(h) != l {
			return nil, fmt.Errorf("hash %d: the standard base64 of 32 bytes, got %q", i+1, clip(l))
		}
		proof = append(proof, [32]byte(h))
	}
	return proof, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return strings.ToValidUTF8(s[:80], "") + "…"
	}
	return s
}
