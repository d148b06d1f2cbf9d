package directory

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"truc.vn/truc/bus"
	"truc.vn/truc/signing"
	"truc.vn/truc/signing/signingtest"
)

func TestApplyRefuses(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	fp := signing.Fingerprint(w.pki.Leaf)
	badDER := &Edge{ID: "hanoi", Certificates: [][]byte{[]byte("not DER")}}
	tests := []struct {
		name    string
		changes []Change
		field   string
		msg     string
	}{
		{"no change", nil, "changes", "at least one change"},
		{"unknown op", []Change{{Op: "delete-agency", OrganID: "000.00.00.G22"}}, "changes[0].op", `unknown op "delete-agency"`},
		{"op without its member", []Change{{Op: OpPutAgency}}, "changes[0].agency", "required by op put-agency"},
		{"op with another member", []Change{{Op: OpPutAgency, Agency: agency("000.00.02.G22", "A", "vpcp", ""), Edge: edgeOf(w, "hanoi")}}, "changes[0].edge", "not allowed with op put-agency"},
		{"agency with an unknown edge", []Change{{Op: OpPutAgency, Agency: agency("000.00.02.G22", "A", "x", "")}}, "changes[0].agency.edge", `unknown edge "x"`},
		{"agency with a bad OrganId", []Change{{Op: OpPutAgency, Agency: agency("G22 ", "A", "vpcp", "")}}, "changes[0].agency.organ_id", "is not an OrganId"},
		{"agency without a name", []Change{{Op: OpPutAgency, Agency: agency("000.00.02.G22", "", "vpcp", "")}}, "changes[0].agency.name", "required"},
		{"agency with an unknown parent", []Change{{Op: OpPutAgency, Agency: agency("000.00.02.G22", "A", "vpcp", "000.00.09.G22")}}, "changes[0].agency.parent", "unknown agency"},
		{"agency made its own grandparent", []Change{{Op: OpPutAgency, Agency: agency("000.00.00.G22", "VPCP", "vpcp", "000.00.01.G22")}}, "changes[0].agency.parent", "makes a loop"},
		{"edge with a bad ID", []Change{{Op: OpPutEdge, Edge: &Edge{ID: "-x", Certificates: [][]byte{w.seals["hanoi"].Raw}}}}, "changes[0].edge.id", "start and end"},
		{"edge without certificates", []Change{{Op: OpPutEdge, Edge: &Edge{ID: "hanoi"}}}, "changes[0].edge.certificates", "at least one"},
		{"edge with a bad certificate", []Change{{Op: OpPutEdge, Edge: badDER}}, "changes[0].edge.certificates[0]", "not a DER"},
		{"edge taking another edge's topic", []Change{{Op: OpPutEdge, Edge: &Edge{ID: "hanoi", InboxTopic: "truc.inbox.vpcp", Certificates: [][]byte{w.seals["hanoi"].Raw}}}}, "changes[0].edge.inbox_topic", "already the inbox of edge vpcp"},
		{"two new edges on one topic", []Change{
			{Op: OpPutEdge, Edge: &Edge{ID: "hanoi", InboxTopic: "truc.inbox.hn", Certificates: [][]byte{w.seals["hanoi"].Raw}}},
			{Op: OpPutEdge, Edge: &Edge{ID: "hn2", InboxTopic: "truc.inbox.hn", Certificates: [][]byte{w.seals["hanoi"].Raw}}},
		}, "changes[0].edge.inbox_topic", "also given to edge hn2"},
		{"binding of an unknown agency", []Change{{Op: OpPutBinding, Binding: &Binding{OrganID: "000.00.00.H29", Certificates: []string{fp}}}}, "changes[0].binding.organ_id", "unknown agency"},
		{"binding with a bad fingerprint", []Change{{Op: OpPutBinding, Binding: &Binding{OrganID: "000.00.00.G22", Certificates: []string{"12:34"}}}}, "changes[0].binding.certificates[0]", "want a SHA-256 fingerprint of 64 hex digits, got 4 digits"},
		{"binding with a bare subject", []Change{{Op: OpPutBinding, Binding: &Binding{OrganID: "000.00.00.G22", Subjects: []SubjectRule{{IssuerSHA256: fp}}}}}, "changes[0].binding.subjects[0].cn", "must not be empty"},
		{"binding with nothing", []Change{{Op: OpPutBinding, Binding: &Binding{OrganID: "000.00.00.G22"}}}, "changes[0].binding", "at least one entry under certificates or subjects"},
		{"binding with a bad date", []Change{{Op: OpPutBinding, Binding: &Binding{OrganID: "000.00.00.G22", Certificates: []string{fp}, NotAfter: "31/12/2030"}}}, "changes[0].binding.not_after", "is neither a date"},
		{"removing a binding that is not there", []Change{{Op: OpRemoveBinding, OrganID: "000.00.00.G12"}}, "changes[0].organ_id", "no binding for 000.00.00.G12"},
		{"removing a binding twice", []Change{{Op: OpRemoveBinding, OrganID: "000.00.00.G22"}, {Op: OpRemoveBinding, OrganID: "000.00.00.G22"}}, "changes[1].organ_id", "no binding"},
		{"a good batch with one bad change", []Change{
			{Op: OpPutEdge, Edge: edgeOf(w, "hanoi")},
			{Op: OpPutAgency, Agency: agency("000.00.00.H29", "UBND thành phố Hà Nội", "hanoi", "")},
			{Op: OpPutBinding, Binding: &Binding{OrganID: "000.00.00.H29", Certificates: []string{"zz"}}},
		}, "changes[2].binding.certificates[0]", "fingerprint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, log := w.openSeeded(t, Config{})
			before, records := d.Snapshot(), log.len()
			if err := d.Check(tt.changes...); err == nil {
				t.Fatal("Check accepted the changes")
			}
			v, err := d.Apply(ctx, tt.changes...)
			wantField(t, err, tt.field, tt.msg)
			if v != 0 || d.Version() != 1 || log.len() != records {
				t.Errorf("after a refused change: returned version %d, version %d, %d log records (want 0, 1, %d)", v, d.Version(), log.len(), records)
			}
			sameDirectory(t, d.Snapshot(), before)
		})
	}
}

func TestApplyRemoveBindingNotFound(t *testing.T) {
	w := newWorld(t)
	d, _ := w.openSeeded(t, Config{})
	_, err := d.Apply(context.Background(), Change{Op: OpRemoveBinding, OrganID: "000.00.00.G12"})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
}

func TestApply(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d, log := w.openSeeded(t, Config{})
	fp := signing.Fingerprint(w.seals["hanoi"])
	// Order does not matter within a version: the child comes before its
	// parent and the agencies before their edge.
	v, err := d.Apply(ctx,
		Change{Op: OpPutAgency, Agency: agency("000.01.00.H29", "Sở Tư pháp Hà Nội", "hanoi", "000.00.00.H29")},
		Change{Op: OpPutAgency, Agency: agency("000.00.00.H29", "UBND thành phố Hà Nội", "hanoi", "")},
		Change{Op: OpPutEdge, Edge: edgeOf(w, "hanoi")},
		Change{Op: OpPutBinding, Binding: &Binding{OrganID: "000.00.00.H29", Certificates: []string{fp}}},
	)
	if err != nil || v != 2 || d.Version() != 2 {
		t.Fatalf("Apply = %d, %v; version %d", v, err, d.Version())
	}
	e, ok := d.Edge("hanoi")
	if !ok || e.InboxTopic != "truc.inbox.hanoi" || len(e.Certificates) != 1 || !e.Certificates[0].Equal(w.seals["hanoi"]) {
		t.Errorf("Edge(hanoi) = %+v, %v", e, ok)
	}
	if got := d.AgenciesOf("hanoi"); len(got) != 2 || got[0].OrganID != "000.00.00.H29" {
		t.Errorf("AgenciesOf(hanoi) = %+v", got)
	}
	if err := d.CheckSigner("000.00.00.H29", []*x509.Certificate{w.seals["hanoi"]}, signingtest.Epoch); err != nil {
		t.Errorf("CheckSigner with the bound seal: %v", err)
	}

	changes, ok := d.Since(1, 0)
	if !ok || len(changes) != 1 || changes[0].Version != 2 || len(changes[0].Changes) != 4 {
		t.Fatalf("Since(1) = %+v, %v", changes, ok)
	}
	if got := changes[0].Changes[2].Edge.InboxTopic; got != "truc.inbox.hanoi" {
		t.Errorf("the recorded edge has inbox topic %q, want the default filled in", got)
	}
	if log.len() != 2 {
		t.Fatalf("%d log records, want 2", log.len())
	}
	var rec record
	if err := json.Unmarshal(log.recs[1].Change, &rec); err != nil || !reflect.DeepEqual(rec.Changes, changes[0].Changes) {
		t.Errorf("log record 2 = %s (%v)", log.recs[1].Change, err)
	}

	// Replacing an agency moves it; making it inactive keeps it.
	moved := agency("000.00.00.H41", "UBND tỉnh Nghệ An", "hanoi", "")
	moved.Active = false
	if _, err := d.Apply(ctx, Change{Op: OpPutAgency, Agency: moved}); err != nil {
		t.Fatal(err)
	}
	if a, _ := d.Agency("000.00.00.H41"); a != *moved {
		t.Errorf("Agency(H41) = %+v, want %+v", a, *moved)
	}
	if _, err := d.Apply(ctx, Change{Op: OpRemoveBinding, OrganID: "000.00.00.H29"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Binding("000.00.00.H29"); ok {
		t.Error("binding still there after remove-binding")
	}
	if d.Version() != 4 {
		t.Errorf("version %d, want 4", d.Version())
	}
}

func TestApplyLogFailureChangesNothing(t *testing.T) {
	w := newWorld(t)
	d, log := w.openSeeded(t, Config{})
	before := d.Snapshot()
	log.failErr = errors.New("disk full")
	_, err := d.Apply(context.Background(), Change{Op: OpPutEdge, Edge: edgeOf(w, "hanoi")})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Apply with a failing log: %v", err)
	}
	sameDirectory(t, d.Snapshot(), before)
	if _, ok := d.Since(1, 0); !ok {
		t.Error("Since(1) no longer answers")
	}
	if got, _ := d.Since(1, 0); len(got) != 0 {
		t.Errorf("history has %d versions after a failed change", len(got))
	}
}

func TestApplyWithHook(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d, log := w.openSeeded(t, Config{})
	calls := 0
	hookErr := errors.New("topic creation failed")
	_, err := d.ApplyWith(ctx, func(context.Context) error { calls++; return hookErr }, Change{Op: OpPutEdge, Edge: edgeOf(w, "hanoi")})
	if !errors.Is(err, hookErr) || calls != 1 || log.len() != 1 || d.Version() != 1 {
		t.Fatalf("failing hook: err %v, %d calls, %d records, version %d", err, calls, log.len(), d.Version())
	}
	if _, ok := d.Edge("hanoi"); ok {
		t.Error("the edge was added although the hook failed")
	}
	// A change that does not apply never reaches the hook.
	_, err = d.ApplyWith(ctx, func(context.Context) error { calls++; return nil }, Change{Op: OpPutEdge, Edge: &Edge{ID: "hanoi"}})
	if err == nil || calls != 1 {
		t.Errorf("invalid change: err %v, hook calls %d (want 1)", err, calls)
	}
}

func TestHistoryLimit(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d, _ := w.openSeeded(t, Config{HistoryLimit: 3})
	for i := range 5 {
		a := agency(fmt.Sprintf("000.00.%02d.G12", 20+i), "Đơn vị", "btc", "000.00.00.G12")
		if _, err := d.Apply(ctx, Change{Op: OpPutAgency, Agency: a}); err != nil {
			t.Fatal(err)
		}
	}
	// Versions 2..6 were applied; 4, 5 and 6 are kept.
	tests := []struct {
		since    int64
		limit    int
		ok       bool
		versions string
	}{
		{0, 0, false, ""},
		{1, 0, false, ""},
		{2, 0, false, ""},
		{3, 0, true, "[4 5 6]"},
		{3, 2, true, "[4 5]"},
		{5, 0, true, "[6]"},
		{6, 0, true, "[]"},
		{7, 0, false, ""},
	}
	for _, tt := range tests {
		got, ok := d.Since(tt.since, tt.limit)
		var vs []int64
		for _, vc := range got {
			vs = append(vs, vc.Version)
		}
		if ok != tt.ok || (ok && fmt.Sprint(vs) != tt.versions) {
			t.Errorf("Since(%d, %d) = %v, %v; want %s, %v", tt.since, tt.limit, vs, ok, tt.versions, tt.ok)
		}
	}
}

func TestOpen(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	seed := w.sampleFile(t)
	d, log := w.openSeeded(t, Config{})
	if sum, ok := d.SeedSHA256(); !ok || sum != seed.SHA256 {
		t.Errorf("SeedSHA256 = %x, %v", sum, ok)
	}
	if _, err := d.Apply(ctx, Change{Op: OpPutEdge, Edge: edgeOf(w, "hanoi")}, Change{Op: OpPutAgency, Agency: agency("000.00.00.H29", "UBND thành phố Hà Nội", "hanoi", "")}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Apply(ctx, Change{Op: OpRemoveBinding, OrganID: "000.00.00.H53"}); err != nil {
		t.Fatal(err)
	}

	t.Run("replays the log and ignores the same seed", func(t *testing.T) {
		again, res, err := Open(ctx, Config{}, log, seed)
		if err != nil {
			t.Fatal(err)
		}
		if res != (OpenResult{SeedIgnored: true, Records: 3}) {
			t.Errorf("OpenResult = %+v", res)
		}
		sameDirectory(t, again.Snapshot(), d.Snapshot())
		if got, ok := again.Since(1, 0); !ok || len(got) != 2 {
			t.Errorf("the replayed history: %d versions, %v", len(got), ok)
		}
		// Changes go on from there, into the same log.
		if v, err := again.Apply(ctx, Change{Op: OpRemoveBinding, OrganID: "000.00.00.G22"}); err != nil || v != 4 || log.len() != 4 {
			t.Errorf("Apply after reopening = %d, %v; %d records", v, err, log.len())
		}
	})
	t.Run("a changed seed is reported, not applied", func(t *testing.T) {
		changed, err := ParseFile([]byte(strings.Replace(w.sampleYAML(), "Bộ Tài chính", "Bộ Tài Chính", 1)), FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		again, res, err := Open(ctx, Config{}, log, changed)
		if err != nil {
			t.Fatal(err)
		}
		if !res.SeedIgnored || !res.SeedChanged || res.Seeded {
			t.Errorf("OpenResult = %+v", res)
		}
		if a, _ := again.Agency("000.00.00.G12"); a.Name != "Bộ Tài chính" {
			t.Errorf("the changed file was applied: %q", a.Name)
		}
	})
	t.Run("no seed on an empty log", func(t *testing.T) {
		empty, res, err := Open(ctx, Config{}, &memLog{}, nil)
		if err != nil || res != (OpenResult{}) || empty.Version() != 0 || len(empty.Agencies()) != 0 {
			t.Errorf("Open(empty, nil) = %+v, %v, version %d", res, err, empty.Version())
		}
		if _, ok := empty.SeedSHA256(); ok {
			t.Error("SeedSHA256 ok without a seed")
		}
	})
}

func TestOpenRefusesABadLog(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	good, _ := w.openSeeded(t, Config{})
	snap := good.Snapshot()
	seedRec, _ := json.Marshal(record{Snapshot: &snap})
	change, _ := json.Marshal(record{Changes: []Change{{Op: OpPutEdge, Edge: edgeOf(w, "hanoi")}}})
	badChange, _ := json.Marshal(record{Changes: []Change{{Op: OpPutAgency, Agency: agency("000.00.00.H29", "Hà Nội", "nowhere", "")}}})
	tests := []struct {
		name string
		recs []logRecord
		msg  string
	}{
		{"not JSON", []logRecord{{1, []byte("{")}}, "version 1"},
		{"unknown member", []logRecord{{1, []byte(`{"snapshot":null,"extra":1}`)}}, `unknown field "extra"`},
		{"empty record", []logRecord{{1, []byte(`{}`)}}, "want either changes or a snapshot"},
		{"snapshot at another version", []logRecord{{2, seedRec}}, "snapshot.version"},
		{"a gap", []logRecord{{1, seedRec}, {3, change}}, "version out of sequence"},
		{"a change that does not apply", []logRecord{{1, seedRec}, {2, badChange}}, `unknown edge "nowhere"`},
		{"versions going back", []logRecord{{1, seedRec}, {1, change}}, "after version 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Write the records around memLog's own ordering check.
			_, _, err := Open(ctx, Config{}, &memLog{recs: tt.recs}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got %v, want an error containing %q", err, tt.msg)
			}
		})
	}
}

func TestReplicateAndReset(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	axis, _ := w.openSeeded(t, Config{})
	if _, err := axis.Apply(ctx, Change{Op: OpPutEdge, Edge: edgeOf(w, "hanoi")}); err != nil {
		t.Fatal(err)
	}
	if _, err := axis.Apply(ctx, Change{Op: OpPutAgency, Agency: agency("000.00.00.H29", "Hà Nội", "hanoi", "")}); err != nil {
		t.Fatal(err)
	}
	edgeLog := &memLog{}
	edge, _, err := Open(ctx, Config{}, edgeLog, nil)
	if err != nil {
		t.Fatal(err)
	}
	vcs, _ := axis.Since(1, 0)
	if err := edge.Replicate(ctx, vcs[0]); !errors.Is(err, ErrVersion) {
		t.Errorf("Replicate of version 2 onto version 0: %v, want ErrVersion", err)
	}
	if err := edge.Reset(ctx, Snapshot{Version: 0}); !errors.Is(err, ErrVersion) {
		t.Errorf("Reset to version 0 from 0: %v, want ErrVersion", err)
	}
	seed, _ := ParseFile([]byte(w.sampleYAML()), FileOptions{})
	s1 := seed.Snapshot
	s1.Version = 1
	if err := edge.Reset(ctx, s1); err != nil {
		t.Fatal(err)
	}
	for _, vc := range vcs {
		if err := edge.Replicate(ctx, vc); err != nil {
			t.Fatal(err)
		}
	}
	sameDirectory(t, edge.Snapshot(), axis.Snapshot())
	if err := edge.Replicate(ctx, vcs[1]); !errors.Is(err, ErrVersion) {
		t.Errorf("replaying version 3 again: %v, want ErrVersion", err)
	}
	if err := edge.Reset(ctx, s1); !errors.Is(err, ErrVersion) {
		t.Errorf("Reset back to version 1: %v, want ErrVersion", err)
	}
	// The edge's own log rebuilds it.
	again, res, err := Open(ctx, Config{}, edgeLog, nil)
	if err != nil || res.Records != 3 {
		t.Fatalf("reopening the edge copy: %+v, %v", res, err)
	}
	sameDirectory(t, again.Snapshot(), axis.Snapshot())
	// A snapshot that breaks a rule is refused whole.
	bad := axis.Snapshot()
	bad.Version = 10
	bad.Agencies[0].Edge = "nowhere"
	err = edge.Reset(ctx, bad)
	wantField(t, err, "snapshot.agencies[0].edge", "unknown edge")
	if edge.Version() != 3 {
		t.Errorf("version %d after a refused reset", edge.Version())
	}
}

func TestCheckSigner(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d, _ := w.openSeeded(t, Config{})
	chain := w.pki.Chain()
	if err := d.CheckSigner("000.00.00.G22", chain, w.pki.Now); err != nil {
		t.Fatalf("bound signer refused: %v", err)
	}
	wantNotBound := func(organID, detail string) {
		t.Helper()
		err := d.CheckSigner(organID, chain, w.pki.Now)
		var re *bus.RejectError
		if !errors.As(err, &re) || re.Reason != bus.RejectSignerNotBound || !strings.Contains(re.Detail, detail) {
			t.Fatalf("CheckSigner(%s) = %v, want signer-not-bound with %q", organID, err, detail)
		}
		var ve *signing.VerifyError
		if !errors.As(err, &ve) || ve.Reason != signing.ReasonSignerNotBound {
			t.Errorf("the rejection does not wrap signing's error: %v", err)
		}
	}
	wantNotBound("000.00.00.H53", "is not bound to OrganId 000.00.00.H53")
	wantNotBound("000.00.00.G12", `no binding for OrganId "000.00.00.G12"`)
	if _, err := d.Apply(ctx, Change{Op: OpRemoveBinding, OrganID: "000.00.00.G22"}); err != nil {
		t.Fatal(err)
	}
	wantNotBound("000.00.00.G22", "no binding")
	// Bound by subject under the intermediate: a renewed seal still signs.
	sub := &Binding{OrganID: "000.00.00.G22", Subjects: []SubjectRule{{IssuerSHA256: signing.Fingerprint(w.pki.Intermediate.Cert), CN: "Văn phòng Chính phủ (TEST)"}}}
	if _, err := d.Apply(ctx, Change{Op: OpPutBinding, Binding: sub}); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckSigner("000.00.00.G22", chain, w.pki.Now); err != nil {
		t.Errorf("signer matching the subject rule refused: %v", err)
	}
}

func TestDecodeChange(t *testing.T) {
	tests := []struct {
		name  string
		json  string
		field string
		msg   string
	}{
		{"put-agency", `{"op":"put-agency","agency":{"organ_id":"000.00.00.G22","name":"VPCP","edge":"vpcp","active":true}}`, "", ""},
		{"put-edge", `{"op":"put-edge","edge":{"id":"vpcp","inbox_topic":"","certificates":["AAEC"]}}`, "", ""},
		{"put-binding", `{"op":"put-binding","binding":{"organ_id":"000.00.00.G22","certificates":["ab"]}}`, "", ""},
		{"remove-binding", `{"op":"remove-binding","organ_id":"000.00.00.G22"}`, "", ""},
		{"unknown member", `{"op":"remove-binding","organ_id":"x","why":1}`, "change", `unknown field "why"`},
		{"unknown member inside", `{"op":"put-agency","agency":{"organ_id":"x","nam":"y"}}`, "change", `unknown field "nam"`},
		{"trailing data", `{"op":"remove-binding","organ_id":"x"} {}`, "change", "data after"},
		{"not an object", `[]`, "change", "cannot unmarshal"},
		{"unknown op", `{"op":"drop"}`, "change.op", `unknown op "drop"`},
		{"missing member", `{"op":"put-edge"}`, "change.edge", "required"},
		{"extra member", `{"op":"remove-binding","organ_id":"x","binding":{"organ_id":"x"}}`, "change.binding", "not allowed"},
		{"bad base64", `{"op":"put-edge","edge":{"id":"vpcp","certificates":["!!"]}}`, "change", "illegal base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeChange([]byte(tt.json))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("DecodeChange: %v", err)
				}
				again, _ := json.Marshal(c)
				if c2, err := DecodeChange(again); err != nil || !reflect.DeepEqual(c, c2) {
					t.Errorf("round trip: %s, %v", again, err)
				}
				return
			}
			wantField(t, err, tt.field, tt.msg)
		})
	}
}

// TestConcurrentReaders reads while changes are applied; run with -race.
// Each version adds one agency, so a consistent snapshot has exactly as
// many agencies as its version says.
func TestConcurrentReaders(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	d, _ := w.openSeeded(t, Config{HistoryLimit: 50})
	base := len(d.Agencies())
	const changes = 200
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 16)
	for r := range 6 {
		wg.Go(func() {
			last := int64(0)
			for {
				select {
				case <-done:
					return
				default:
				}
				switch r % 3 {
				case 0:
					s := d.Snapshot()
					if len(s.Agencies) != base+int(s.Version-1) || s.Version < last {
						errs <- fmt.Errorf("snapshot at version %d has %d agencies (last version seen %d)", s.Version, len(s.Agencies), last)
						return
					}
					last = s.Version
				case 1:
					if err := d.CheckSigner("000.00.00.G22", w.pki.Chain(), w.pki.Now); err != nil {
						errs <- err
						return
					}
					if _, ok := d.Edge("vpcp"); !ok {
						errs <- errors.New("edge vpcp missing")
						return
					}
				case 2:
					v := d.Version()
					got, ok := d.Since(max(v-10, 1), 5)
					if ok && len(got) > 5 {
						errs <- fmt.Errorf("Since returned %d > 5 versions", len(got))
						return
					}
					d.AgenciesOf("btc")
				}
			}
		})
	}
	for i := range changes {
		a := agency(fmt.Sprintf("000.%02d.%02d.G12", 50+i/100, i%100), "Đơn vị thuộc Bộ Tài chính", "btc", "000.00.00.G12")
		if _, err := d.Apply(ctx, Change{Op: OpPutAgency, Agency: a}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d.Version() != changes+1 || len(d.Agencies()) != base+changes {
		t.Errorf("version %d with %d agencies", d.Version(), len(d.Agencies()))
	}
}
