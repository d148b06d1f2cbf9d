package bus_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"truc.vn/truc/bus"
)

// Test keys (Ed25519, note's own type: bus does not depend on the key
// type). Fixed so that the committed fuzz corpus holds real signatures.
const (
	testOrigin     = "truc.vn/axis/test-axis"
	logSkey        = "PRIVATE+KEY+truc.vn/axis/test-axis+cc393137+AWst3tDavo0Q9um8SzALKI4KiQACWcOmImGjj/Y2Vb9H"
	logVkey        = "truc.vn/axis/test-axis+cc393137+AWAeBU/iE1hU+/xMEnbuoTCl5MN3yutmZ/fvS2xUfPYU"
	witnessSkey    = "PRIVATE+KEY+witness.example/w1+3ad731e6+AV+2BKql5Xbz4qRxlSX2t/9l1/8yiLr68xuGgQFLi8wE"
	witnessVkey    = "witness.example/w1+3ad731e6+AQrxZDdlwPhLy49mshfYubzDbCZMBEDltnvivxKkpSQa"
	emptyTreeHashB = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
)

func signer(t testing.TB, skey string) note.Signer {
	t.Helper()
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verifier(t testing.TB, vkey string) note.Verifier {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantEvidenceErr(t *testing.T, err error, field string, r bus.Reason) {
	t.Helper()
	var e *bus.EvidenceError
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *EvidenceError", err, err)
	}
	if e.Reason != r || (field != "*" && e.Field != field) {
		t.Fatalf("got field %q reason %q (%v); want field %q reason %q", e.Field, e.Reason, err, field, r)
	}
}

// memTree is an in-memory tlog tree, independent of any Log
// implementation, to produce proofs for the verification functions.
type memTree struct {
	leaves [][]byte
	hashes []tlog.Hash
}

func (m *memTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = m.hashes[x]
	}
	return out, nil
}

func (m *memTree) add(t testing.TB, leaf []byte) {
	hs, err := tlog.StoredHashes(int64(len(m.leaves)), leaf, m)
	if err != nil {
		t.Fatal(err)
	}
	m.hashes = append(m.hashes, hs...)
	m.leaves = append(m.leaves, leaf)
}

func newMemTree(t testing.TB, n int) *memTree {
	m := &memTree{}
	for i := range n {
		m.add(t, fmt.Appendf(nil, "leaf %d", i))
	}
	return m
}

func (m *memTree) checkpoint(t testing.TB, size int64) bus.Checkpoint {
	h, err := tlog.TreeHash(size, m)
	if err != nil {
		t.Fatal(err)
	}
	return bus.Checkpoint{Origin: testOrigin, Size: size, Hash: h}
}

func toProof(p []tlog.Hash) [][32]byte {
	out := make([][32]byte, len(p))
	for i := range p {
		out[i] = p[i]
	}
	return out
}

// TestTreeHash checks the in-memory RFC 6962 computation against the
// RFC 6962 reference test vectors and against tlog's stored-hash layout.
func TestTreeHash(t *testing.T) {
	// Leaves and roots of the Certificate Transparency reference tests.
	ctLeaves := []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}
	ctRoots := []string{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	var leaves [][]byte
	for i, l := range ctLeaves {
		b, _ := hex.DecodeString(l)
		leaves = append(leaves, b)
		if got := bus.TreeHash(leaves); hex.EncodeToString(got[:]) != ctRoots[i] {
			t.Fatalf("size %d: root %x, RFC 6962 test vector %s", i+1, got, ctRoots[i])
		}
	}
	if got := bus.TreeHash(nil); base64.StdEncoding.EncodeToString(got[:]) != emptyTreeHashB {
		t.Fatalf("empty tree hash %x", got)
	}
	m := &memTree{}
	for n := range 130 {
		if got, want := bus.TreeHash(m.leaves), m.checkpoint(t, int64(n)).Hash; got != want {
			t.Fatalf("size %d: TreeHash %x, tlog %x", n, got, want)
		}
		m.add(t, fmt.Appendf(nil, "%d", n))
	}
	if bus.LeafHash([]byte("x")) != tlog.RecordHash([]byte("x")) {
		t.Fatal("LeafHash is not tlog.RecordHash")
	}
}

func TestCheckpointTextRoundTrip(t *testing.T) {
	h := sha256.Sum256([]byte("root"))
	cases := []bus.Checkpoint{
		{Origin: testOrigin, Size: 0, Hash: sha256.Sum256(nil)},
		{Origin: testOrigin, Size: 20852163, Hash: h},
		{Origin: "example.com/behind-the-sofa", Size: 1<<63 - 1, Hash: h},
		{Origin: "trục.vn/axis/bộ-nội-vụ", Size: 7, Hash: h, Extensions: []string{"ext one", "— two"}},
	}
	for _, c := range cases {
		text, err := c.Text()
		if err != nil {
			t.Fatalf("Text(%+v): %v", c, err)
		}
		got, err := bus.ParseCheckpoint(text)
		if err != nil {
			t.Fatalf("ParseCheckpoint(%q): %v", text, err)
		}
		if got.Origin != c.Origin || got.Size != c.Size || got.Hash != c.Hash || strings.Join(got.Extensions, "\n") != strings.Join(c.Extensions, "\n") {
			t.Fatalf("round trip of %+v gave %+v", c, got)
		}
	}
	// The C2SP tlog-checkpoint example, byte for byte.
	example := "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
	c, err := bus.ParseCheckpoint([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if text, _ := c.Text(); string(text) != example {
		t.Fatalf("Text() = %q, want %q", text, example)
	}
}

func TestParseCheckpointRefuses(t *testing.T) {
	hash := base64.StdEncoding.EncodeToString(make([]byte, 32))
	cases := []struct {
		name, text, field string
		reason            bus.Reason
	}{
		{"empty", "", "", bus.ReasonInvalid},
		{"no-final-newline", testOrigin + "\n1\n" + hash, "", bus.ReasonInvalid},
		{"two-lines", testOrigin + "\n1\n", "", bus.ReasonMissing},
		{"empty-origin", "\n1\n" + hash + "\n", "origin", bus.ReasonMissing},
		{"origin-with-space", "a b\n1\n" + hash + "\n", "origin", bus.ReasonInvalid},
		{"origin-with-plus", "a+b\n1\n" + hash + "\n", "origin", bus.ReasonInvalid},
		{"origin-not-utf8", "a\xff\n1\n" + hash + "\n", "origin", bus.ReasonInvalid},
		{"origin-too-long", strings.Repeat("a", bus.MaxOriginLen+1) + "\n1\n" + hash + "\n", "origin", bus.ReasonTooLarge},
		{"size-leading-zero", testOrigin + "\n01\n" + hash + "\n", "size", bus.ReasonInvalid},
		{"size-negative", testOrigin + "\n-1\n" + hash + "\n", "size", bus.ReasonInvalid},
		{"size-plus", testOrigin + "\n+1\n" + hash + "\n", "size", bus.ReasonInvalid},
		{"size-space", testOrigin + "\n 1\n" + hash + "\n", "size", bus.ReasonInvalid},
		{"size-overflow", testOrigin + "\n9223372036854775808\n" + hash + "\n", "size", bus.ReasonInvalid},
		{"size-empty", testOrigin + "\n\n" + hash + "\n", "size", bus.ReasonInvalid},
		{"hash-short", testOrigin + "\n1\n" + base64.StdEncoding.EncodeToString(make([]byte, 31)) + "\n", "root hash", bus.ReasonInvalid},
		{"hash-unpadded", testOrigin + "\n1\n" + strings.TrimRight(hash, "=") + "\n", "root hash", bus.ReasonInvalid},
		{"hash-noncanonical-bits", testOrigin + "\n1\n" + hash[:42] + "B=\n", "root hash", bus.ReasonInvalid},
		{"hash-hex", testOrigin + "\n1\n" + strings.Repeat("00", 32) + "\n", "root hash", bus.ReasonInvalid},
		{"empty-extension", testOrigin + "\n1\n" + hash + "\n\n", "extension line 1", bus.ReasonInvalid},
		{"extension-control", testOrigin + "\n1\n" + hash + "\nok\nbad\x01\n", "extension line 2", bus.ReasonInvalid},
		{"too-long", testOrigin + "\n1\n" + hash + "\n" + strings.Repeat("x", bus.MaxCheckpointTextLen) + "\n", "", bus.ReasonTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := bus.ParseCheckpoint([]byte(tc.text))
			if err == nil {
				t.Fatalf("accepted as %+v", c)
			}
			wantEvidenceErr(t, err, tc.field, tc.reason)
		})
	}
}

func TestCheckpointTextRefuses(t *testing.T) {
	cases := []struct {
		name  string
		c     bus.Checkpoint
		field string
	}{
		{"negative-size", bus.Checkpoint{Origin: testOrigin, Size: -1}, "size"},
		{"no-origin", bus.Checkpoint{Size: 1}, "origin"},
		{"empty-extension", bus.Checkpoint{Origin: testOrigin, Extensions: []string{"a", ""}}, "extension line 2"},
		{"newline-in-extension", bus.Checkpoint{Origin: testOrigin, Extensions: []string{"a\nb"}}, "extension line 1"},
	}
	for _, tc := range cases {
		if _, err := tc.c.Text(); err == nil {
			t.Errorf("%s: Text accepted %+v", tc.name, tc.c)
		} else {
			var e *bus.EvidenceError
			if !errors.As(err, &e) || e.Field != tc.field {
				t.Errorf("%s: error %v, want one about %s", tc.name, err, tc.field)
			}
		}
	}
}

func TestSignAndOpenCheckpoint(t *testing.T) {
	logSigner, witness := signer(t, logSkey), signer(t, witnessSkey)
	known := note.VerifierList(verifier(t, logVkey), verifier(t, witnessVkey))
	cp := newMemTree(t, 5).checkpoint(t, 5)
	sc, err := bus.SignCheckpoint(cp, logSigner)
	if err != nil {
		t.Fatal(err)
	}
	got, err := bus.OpenCheckpoint(sc.Note, known)
	if err != nil {
		t.Fatalf("OpenCheckpoint: %v", err)
	}
	if got.Checkpoint.Hash != cp.Hash || got.Size != 5 || !bytes.Equal(got.Note, sc.Note) {
		t.Fatalf("opened %+v", got)
	}
	un, err := bus.ParseUnverifiedCheckpoint(sc.Note)
	if err != nil || un.Hash != cp.Hash {
		t.Fatalf("ParseUnverifiedCheckpoint: %+v, %v", un, err)
	}

	// Cosigned by a witness: still opens.
	n, err := note.Open(sc.Note, known)
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(n, witness)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bus.OpenCheckpoint(cosigned, known); err != nil {
		t.Fatalf("cosigned checkpoint: %v", err)
	}

	text, _ := cp.Text()
	witnessOnly, err := note.Sign(&note.Note{Text: string(text)}, witness)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bus.OpenCheckpoint(witnessOnly, known)
	wantEvidenceErr(t, err, "", bus.ReasonUnknownKey)

	_, err = bus.OpenCheckpoint(sc.Note, note.VerifierList(verifier(t, witnessVkey)))
	wantEvidenceErr(t, err, "", bus.ReasonUnknownKey)

	tampered := bytes.Replace(sc.Note, []byte("\n5\n"), []byte("\n6\n"), 1)
	_, err = bus.OpenCheckpoint(tampered, known)
	wantEvidenceErr(t, err, "", bus.ReasonBadSignature)

	_, err = bus.OpenCheckpoint([]byte("not a note"), known)
	wantEvidenceErr(t, err, "", bus.ReasonInvalid)
	_, err = bus.OpenCheckpoint(make([]byte, bus.MaxSignedCheckpointLen+1), known)
	wantEvidenceErr(t, err, "", bus.ReasonTooLarge)

	// A validly signed note that is not a checkpoint.
	junk, err := note.Sign(&note.Note{Text: "hello\n"}, logSigner)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bus.OpenCheckpoint(junk, known)
	wantEvidenceErr(t, err, "", bus.ReasonMissing)

	if _, err := bus.SignCheckpoint(bus.Checkpoint{Origin: "truc.vn/axis/other", Size: 1}, logSigner); err == nil {
		t.Fatal("SignCheckpoint accepted a signer named after another origin")
	}
	if _, err := bus.SignCheckpoint(cp, nil); err == nil {
		t.Fatal("SignCheckpoint accepted a nil signer")
	}
	if _, err := bus.ParseUnverifiedCheckpoint(text); err == nil {
		t.Fatal("ParseUnverifiedCheckpoint accepted a note without signatures")
	}
}

func TestVerifyInclusion(t *testing.T) {
	m := newMemTree(t, 13)
	cp := m.checkpoint(t, 13)
	for i := range int64(13) {
		p, err := tlog.ProveRecord(13, i, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := bus.VerifyInclusion(m.leaves[i], i, toProof(p), cp); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
	}
	p, _ := tlog.ProveRecord(13, 4, m)
	proof := toProof(p)
	cases := []struct {
		name   string
		leaf   []byte
		index  int64
		proof  [][32]byte
		cp     bus.Checkpoint
		field  string
		reason bus.Reason
	}{
		{"wrong-leaf", []byte("leaf 5"), 4, proof, cp, "", bus.ReasonProofMismatch},
		{"wrong-index", m.leaves[4], 5, proof, cp, "", bus.ReasonProofMismatch},
		{"short-proof", m.leaves[4], 4, proof[:len(proof)-1], cp, "", bus.ReasonProofMismatch},
		{"long-proof", m.leaves[4], 4, append(proof, [32]byte{}), cp, "", bus.ReasonProofMismatch},
		{"other-size", m.leaves[4], 4, proof, m.checkpoint(t, 12), "", bus.ReasonProofMismatch},
		{"index-past-size", m.leaves[4], 13, proof, cp, "index", bus.ReasonInvalid},
		{"negative-index", m.leaves[4], -1, proof, cp, "index", bus.ReasonInvalid},
		{"empty-tree", m.leaves[4], 0, nil, bus.Checkpoint{Origin: testOrigin}, "index", bus.ReasonInvalid},
		{"huge-proof", m.leaves[4], 4, make([][32]byte, bus.MaxProofLen+1), cp, "", bus.ReasonTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := bus.VerifyInclusion(tc.leaf, tc.index, tc.proof, tc.cp)
			wantEvidenceErr(t, err, tc.field, tc.reason)
		})
	}
}

func TestVerifyConsistency(t *testing.T) {
	m := newMemTree(t, 20)
	for _, pair := range [][2]int64{{1, 20}, {7, 8}, {8, 20}, {13, 19}} {
		p, err := tlog.ProveTree(pair[1], pair[0], m)
		if err != nil {
			t.Fatal(err)
		}
		if err := bus.VerifyConsistency(m.checkpoint(t, pair[0]), m.checkpoint(t, pair[1]), toProof(p)); err != nil {
			t.Fatalf("%d → %d: %v", pair[0], pair[1], err)
		}
	}
	p, _ := tlog.ProveTree(20, 8, m)
	proof := toProof(p)
	old, cur := m.checkpoint(t, 8), m.checkpoint(t, 20)
	empty := m.checkpoint(t, 0)
	forked := old
	forked.Hash[3] ^= 1
	otherLog := old
	otherLog.Origin = "truc.vn/axis/other"
	badEmpty := empty
	badEmpty.Hash[0] ^= 1
	cases := []struct {
		name     string
		old, cur bus.Checkpoint
		proof    [][32]byte
		reason   bus.Reason
	}{
		{"forked-old-root", forked, cur, proof, bus.ReasonProofMismatch},
		{"tampered-proof", old, cur, append([][32]byte{{1}}, proof[1:]...), bus.ReasonProofMismatch},
		{"truncated-proof", old, cur, proof[:1], bus.ReasonProofMismatch},
		{"other-log", otherLog, cur, proof, bus.ReasonInconsistent},
		{"old-after-new", cur, old, proof, bus.ReasonInvalid},
		{"same-size-other-root", old, forked, nil, bus.ReasonInconsistent},
		{"same-size-nonempty-proof", old, old, proof, bus.ReasonProofMismatch},
		{"empty-with-wrong-hash", badEmpty, cur, nil, bus.ReasonInconsistent},
		{"empty-with-proof", empty, cur, proof, bus.ReasonProofMismatch},
		{"huge-proof", old, cur, make([][32]byte, bus.MaxProofLen+1), bus.ReasonTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantEvidenceErr(t, bus.VerifyConsistency(tc.old, tc.cur, tc.proof), "", tc.reason)
		})
	}
	for _, ok := range [][2]bus.Checkpoint{{empty, cur}, {empty, empty}, {old, old}} {
		if err := bus.VerifyConsistency(ok[0], ok[1], nil); err != nil {
			t.Fatalf("%d → %d with an empty proof: %v", ok[0].Size, ok[1].Size, err)
		}
	}
}

func TestCheckLeaves(t *testing.T) {
	if err := bus.CheckLeaves([][]byte{{1}, make([]byte, bus.MaxLeafSize)}); err != nil {
		t.Fatal(err)
	}
	for _, leaves := range [][][]byte{nil, {{}}, {{1}, nil}, {make([]byte, bus.MaxLeafSize+1)}} {
		if err := bus.CheckLeaves(leaves); !errors.Is(err, bus.ErrInvalidLeaf) {
			t.Errorf("CheckLeaves(%d leaves): %v", len(leaves), err)
		}
	}
}
