package witness_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/adapters/witness"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

// cosignAs returns cp's note cosigned by s (no consistency check: the
// handler checks signatures and the checkpoint, not histories).
func cosignAs(t *testing.T, cp bus.SignedCheckpoint, s note.Signer) []byte {
	t.Helper()
	msg, err := bus.Cosign(cp, bus.SignedCheckpoint{}, nil, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func newSigner(t *testing.T, name string) *notesig.Signer {
	t.Helper()
	s, err := notesig.NewSigner(name, signingtest.NewKey(t, signingtest.P256))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type answer struct {
	status  int
	problem witness.Problem
	result  witness.CosignResult
	body    []byte
}

func post(t *testing.T, a *axisWorld, body []byte) answer {
	t.Helper()
	resp, err := a.srv.Client().Post(a.srv.URL+witness.PathCosignatures, "text/plain; charset=utf-8", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return readAnswer(t, resp)
}

func get(t *testing.T, a *axisWorld, query string) answer {
	t.Helper()
	resp, err := a.srv.Client().Get(a.srv.URL + witness.PathCosigned + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return readAnswer(t, resp)
}

func readAnswer(t *testing.T, resp *http.Response) answer {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, body: b}
	switch resp.Header.Get("Content-Type") {
	case "application/problem+json":
		if err := json.Unmarshal(b, &a.problem); err != nil {
			t.Fatalf("problem body %q: %v", b, err)
		}
	case "application/json":
		if err := json.Unmarshal(b, &a.result); err != nil {
			t.Fatalf("result body %q: %v", b, err)
		}
	}
	return a
}

func TestHandlerPost(t *testing.T) {
	a := newAxisWorld(t)
	cp := a.grow(a.store.Log(), 5, false)
	known := newSigner(t, bus.EdgeNoteName("hanoi"))
	a.witnesses.add(known.Verifier())
	stranger := newSigner(t, bus.EdgeNoteName("ghost"))

	// A checkpoint signed by the log key that the log never signed:
	// same size, another root.
	forged := cp.Checkpoint
	forged.Hash[0] ^= 1
	never, err := bus.SignCheckpoint(forged, a.logSigner)
	if err != nil {
		t.Fatal(err)
	}
	// And one of a size the log never reached.
	beyond := cp.Checkpoint
	beyond.Size = 99
	neverSize, err := bus.SignCheckpoint(beyond, a.logSigner)
	if err != nil {
		t.Fatal(err)
	}
	// Signed by another key under the log's name.
	otherLog, err := bus.SignCheckpoint(cp.Checkpoint, newSigner(t, origin))
	if err != nil {
		t.Fatal(err)
	}
	good := cosignAs(t, cp, known)
	// A valid line by the known witness over another text: a bad signature.
	badSig := swapSignature(t, good, "truc.vn/edge/hanoi", cosignAs(t, never, known))

	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		reason string
	}{
		{"unknown witness", cosignAs(t, cp, stranger), http.StatusForbidden, witness.ReasonUnknownWitness},
		{"log signature only", cp.Note, http.StatusForbidden, witness.ReasonUnknownWitness},
		{"bad witness signature", badSig, http.StatusBadRequest, string(bus.ReasonBadSignature)},
		{"checkpoint the axis never signed", cosignAs(t, never, known), http.StatusConflict, witness.ReasonUnknownCheckpoint},
		{"size the axis never signed", cosignAs(t, neverSize, known), http.StatusConflict, witness.ReasonUnknownCheckpoint},
		{"not signed by the log key", cosignAs(t, otherLog, known), http.StatusBadRequest, string(bus.ReasonUnknownKey)},
		{"oversized body", bytes.Repeat([]byte("a"), bus.MaxSignedCheckpointLen+1), http.StatusRequestEntityTooLarge, string(bus.ReasonTooLarge)},
		{"not a note", []byte("hello\n"), http.StatusBadRequest, string(bus.ReasonInvalid)},
		{"empty", nil, http.StatusBadRequest, string(bus.ReasonInvalid)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := post(t, a, tc.body)
			if got.status != tc.status || got.problem.Reason != tc.reason {
				t.Fatalf("%d %+v, want %d %s", got.status, got.problem, tc.status, tc.reason)
			}
			if got.problem.Detail == "" || got.problem.Status != tc.status {
				t.Errorf("problem without detail or status: %+v", got.problem)
			}
			if names := a.cosigners(5); len(names) != 0 {
				t.Errorf("a refused post stored cosignatures by %q", names)
			}
		})
	}

	// The good one is stored once, whatever the number of posts; the
	// stranger's line next to it is dropped.
	mixed := cosignAs(t, bus.SignedCheckpoint{Checkpoint: cp.Checkpoint, Note: good}, stranger)
	for i, want := range []int{1, 0} {
		got := post(t, a, mixed)
		if got.status != http.StatusOK || got.result.Added != want || got.result.Size != 5 || !slices.Equal(got.result.Witnesses, []string{"truc.vn/edge/hanoi"}) {
			t.Fatalf("post %d: %d %+v %+v", i, got.status, got.result, got.problem)
		}
	}
	msg, err := a.store.Log().Cosigned(context.Background(), 5)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(msg, []byte("ghost")) {
		t.Errorf("the unknown witness's line was stored:\n%s", msg)
	}
}

// swapSignature returns msg with name's signature line replaced by the
// one in from.
func swapSignature(t *testing.T, msg []byte, name string, from []byte) []byte {
	t.Helper()
	line := func(m []byte) string {
		for _, l := range strings.SplitAfter(string(m), "\n") {
			if strings.HasPrefix(l, "— "+name+" ") {
				return l
			}
		}
		t.Fatalf("no line by %s", name)
		return ""
	}
	return []byte(strings.Replace(string(msg), line(msg), line(from), 1))
}

func TestHandlerGet(t *testing.T) {
	a := newAxisWorld(t)
	ctx := context.Background()
	w1, w2 := newSigner(t, bus.EdgeNoteName("hanoi")), newSigner(t, bus.EdgeNoteName("hue"))
	a.witnesses.add(w1.Verifier())
	a.witnesses.add(w2.Verifier())
	cp3 := a.grow(a.store.Log(), 3, false)
	cp6 := a.grow(a.store.Log(), 6, false)
	a.grow(a.store.Log(), 8, false)

	if got := get(t, a, ""); got.status != http.StatusNotFound || got.problem.Reason != witness.ReasonNotFound {
		t.Fatalf("nothing cosigned yet: %d %+v", got.status, got.problem)
	}
	for _, p := range [][]byte{cosignAs(t, cp3, w1), cosignAs(t, cp3, w2), cosignAs(t, cp6, w1)} {
		if got := post(t, a, p); got.status != http.StatusOK {
			t.Fatalf("post: %d %+v", got.status, got.problem)
		}
	}
	client, err := witness.NewClient(a.srv.URL, a.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		size      int64
		min       int
		wantSize  int64
		witnesses []string
	}{
		{"latest with one", -1, 1, 6, []string{"truc.vn/edge/hanoi"}},
		{"latest with two", -1, 2, 3, []string{"truc.vn/edge/hanoi", "truc.vn/edge/hue"}},
		{"by size", 3, 0, 3, []string{"truc.vn/edge/hanoi", "truc.vn/edge/hue"}},
		{"by size, none yet", 8, 0, 8, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := client.Cosigned(ctx, tc.size, tc.min)
			if err != nil {
				t.Fatal(err)
			}
			cp, names, err := bus.OpenCosigned(msg, a.logKeys, a.witnesses)
			if err != nil || cp.Size != tc.wantSize || !slices.Equal(names, tc.witnesses) {
				t.Fatalf("size %d witnesses %q, %v; want %d %q", cp.Size, names, err, tc.wantSize, tc.witnesses)
			}
		})
	}
	if _, err := client.Cosigned(ctx, -1, 3); !witness.IsStatus(err, http.StatusNotFound) {
		t.Errorf("three cosignatures: %v, want 404", err)
	}
	for _, tc := range []struct {
		after, upto, want int64 // want -1: none
	}{{0, 8, 3}, {2, 8, 3}, {3, 8, 6}, {0, 5, 3}, {6, 8, -1}, {3, 5, -1}} {
		msg, err := client.MostCosigned(ctx, tc.after, tc.upto)
		if err != nil {
			t.Fatal(err)
		}
		if tc.want < 0 {
			if msg != nil {
				t.Errorf("most cosigned in (%d, %d]: %q, want none", tc.after, tc.upto, msg)
			}
			continue
		}
		if cp, err := bus.OpenCheckpoint(msg, a.logKeys); err != nil || cp.Size != tc.want {
			t.Errorf("most cosigned in (%d, %d]: size %d, %v; want %d", tc.after, tc.upto, cp.Size, err, tc.want)
		}
	}
	for _, q := range []string{"?size=7", "?size=-1", "?size=x", "?min=0", "?min=65", "?size=3&min=1", "?other=1",
		"?after=1", "?upto=1", "?after=1&upto=x", "?after=-2&upto=3", "?after=1&upto=5&size=3", "?size=1&size=2"} {
		want := http.StatusBadRequest
		if q == "?size=7" {
			want = http.StatusNotFound
		}
		if got := get(t, a, q); got.status != want || got.problem.Reason == "" {
			t.Errorf("GET %s: %d %+v, want %d", q, got.status, got.problem, want)
		}
	}
	resp, err := a.srv.Client().Get(a.srv.URL + witness.PathCosignatures)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
		t.Errorf("GET %s: %s, Allow %q", witness.PathCosignatures, resp.Status, resp.Header.Get("Allow"))
	}
}

func TestClientErrors(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "http://", "http://h/?q=1", "://x"} {
		if _, err := witness.NewClient(u, nil); err == nil {
			t.Errorf("NewClient(%q) accepted", u)
		}
	}
	a := newAxisWorld(t)
	ctx := context.Background()
	client, err := witness.NewClient(a.srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Checkpoint(ctx); !witness.IsStatus(err, http.StatusServiceUnavailable) {
		t.Errorf("no checkpoint yet: %v", err)
	}
	a.grow(a.store.Log(), 9, false)
	if _, err := client.ConsistencyProof(ctx, 3, 12); !witness.IsStatus(err, http.StatusBadRequest) {
		t.Errorf("a proof beyond the log: %v", err)
	}
	p, err := client.ConsistencyProof(ctx, 3, 9)
	if err != nil || len(p) == 0 {
		t.Fatalf("proof: %d hashes, %v", len(p), err)
	}
	if p, err := client.ConsistencyProof(ctx, 9, 9); err != nil || len(p) != 0 {
		t.Errorf("an empty proof: %d hashes, %v", len(p), err)
	}
	err = client.AddCosignature(ctx, []byte("x"))
	var se *witness.StatusError
	if !witness.IsStatus(err, http.StatusBadRequest) || !errors.As(err, &se) || se.Reason != string(bus.ReasonInvalid) {
		t.Errorf("a bad post: %v", err)
	}
}
