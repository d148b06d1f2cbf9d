package restapi_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
	"truc.vn/truc/bus"
)

// TestRecipientStates derives recipient states from timelines, events
// out of order included.
func TestRecipientStates(t *testing.T) {
	t0 := time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	accepted := bus.TimelineEvent{Kind: bus.TimelineAccepted, At: at(1)}
	delivered := func(s int, organs ...string) bus.TimelineEvent {
		return bus.TimelineEvent{Kind: bus.TimelineDelivered, At: at(s), Recipients: organs}
	}
	status := func(s int, organ, code string) bus.TimelineEvent {
		return bus.TimelineEvent{Kind: bus.TimelineStatus, At: at(s), Recipients: []string{organ}, StatusCode: code}
	}
	type want struct {
		state  string
		at     int
		final  bool
		status string
	}
	tests := []struct {
		name   string
		events []bus.TimelineEvent
		want   map[string]want
		final  bool
	}{
		{"queued", nil, map[string]want{bnv: {restapi.StateQueued, 0, false, ""}, vpcp: {restapi.StateQueued, 0, false, ""}}, false},
		{"accepted", []bus.TimelineEvent{accepted}, map[string]want{bnv: {restapi.StateAccepted, 1, false, ""}}, false},
		{"rejected by the axis", []bus.TimelineEvent{{Kind: bus.TimelineRejected, At: at(1), Reason: "signature-invalid"}},
			map[string]want{bnv: {restapi.StateRejected, 1, true, ""}, vpcp: {restapi.StateRejected, 1, true, ""}}, true},
		{"delivered to one", []bus.TimelineEvent{accepted, delivered(2, bnv)},
			map[string]want{bnv: {restapi.StateDelivered, 2, false, ""}, vpcp: {restapi.StateAccepted, 1, false, ""}}, false},
		{"a 01 before the delivery receipt", []bus.TimelineEvent{accepted, status(3, bnv, "01"), delivered(2, bnv)},
			map[string]want{bnv: {restapi.StateStatus, 3, false, "01"}}, false},
		{"statuses up to 06", []bus.TimelineEvent{accepted, delivered(2, bnv, vpcp), status(3, bnv, "01"), status(4, bnv, "03"), status(5, bnv, "06"), status(6, vpcp, "02")},
			map[string]want{bnv: {restapi.StateStatus, 5, true, "06"}, vpcp: {restapi.StateStatus, 6, true, "02"}}, true},
		{"15 is not final", []bus.TimelineEvent{accepted, status(3, bnv, "15")}, map[string]want{bnv: {restapi.StateStatus, 3, false, "15"}}, false},
		{"refused by one edge", []bus.TimelineEvent{accepted, delivered(2, bnv, vpcp), {Kind: bus.TimelineRefused, At: at(3), Recipients: []string{vpcp}, Reason: "signer-not-bound"}},
			map[string]want{bnv: {restapi.StateDelivered, 2, false, ""}, vpcp: {restapi.StateRefused, 3, true, ""}}, false},
		{"a late receipt does not move back", []bus.TimelineEvent{status(3, bnv, "05"), accepted, delivered(2, bnv)},
			map[string]want{bnv: {restapi.StateStatus, 3, false, "05"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.submit(restapitest.NewDocument(t, hanoi, bnv, vpcp))
			for _, ev := range tt.events {
				if err := e.mem.AddEvent(s.ID, ev); err != nil {
					t.Fatal(err)
				}
			}
			w := e.get("/v1/documents/"+s.ID, tokHanoi)
			var d restapi.Document
			decode(t, w, &d)
			created := d.CreatedAt
			for _, rt := range d.Timeline {
				want, ok := tt.want[rt.OrganID]
				if !ok {
					continue
				}
				wantAt := at(want.at)
				if want.at == 0 {
					wantAt = created
				}
				if rt.State != want.state || !rt.At.Equal(wantAt) || rt.Final != want.final || rt.Status != want.status {
					t.Errorf("%s: %+v, want %+v", rt.OrganID, rt.RecipientState, want)
				}
			}
			if d.Final != tt.final {
				t.Errorf("document final %v, want %v", d.Final, tt.final)
			}
			// The list shows the same states.
			w = e.get("/v1/documents?limit=1", tokHanoi)
			var p restapi.DocumentPage
			decode(t, w, &p)
			for i, st := range p.Documents[0].States {
				if st != d.Timeline[i].RecipientState {
					t.Errorf("list state %+v, document %+v", st, d.Timeline[i].RecipientState)
				}
			}
		})
	}
}

// TestDocumentsPaging follows next through the list with and without a
// recipient filter, with few matches among many messages: every match is
// listed once, newest first.
func TestDocumentsPaging(t *testing.T) {
	e := newEnv(t)
	var all, toVPCP []string
	for i := range 450 {
		to := bnv
		if i%97 == 0 {
			to = vpcp
		}
		s := e.submit(restapitest.NewDocument(t, hanoi, to))
		all = append(all, s.ID)
		if to == vpcp {
			toVPCP = append(toVPCP, s.ID)
		}
	}
	// Statuses sent by the other DMS never show.
	e.do(req{method: "POST", target: "/v1/documents", token: tokBNV, body: restapitest.NewDocument(t, bnv, vpcp), headers: []string{"Content-Type", "application/xml"}})
	slices.Reverse(all)
	slices.Reverse(toVPCP)

	follow := func(query string) ([]string, int) {
		var ids []string
		var before uint64
		pages := 0
		for {
			target := "/v1/documents?" + query
			if before > 0 {
				target += fmt.Sprintf("&before=%d", before)
			}
			w := e.get(target, tokHanoi)
			var p restapi.DocumentPage
			decode(t, w, &p)
			pages++
			for _, d := range p.Documents {
				ids = append(ids, d.ID)
			}
			if p.Next == 0 {
				return ids, pages
			}
			if p.Next >= before && before != 0 {
				t.Fatalf("next %d did not move past %d", p.Next, before)
			}
			before = p.Next
		}
	}
	if ids, pages := follow("limit=100"); !slices.Equal(ids, all) || pages != 5 {
		t.Errorf("all: %d ids in %d pages, want %d in 5", len(ids), pages, len(all))
	}
	if ids, _ := follow("limit=2&recipient=" + vpcp); !slices.Equal(ids, toVPCP) {
		t.Errorf("to VPCP: %v, want %v", ids, toVPCP)
	}
	if ids, _ := follow("limit=10&recipient=" + url.QueryEscape("000.00.00.X99")); len(ids) != 0 {
		t.Errorf("to nobody: %v", ids)
	}
	// Outbox calls are bounded by the scan: at most 10 per page.
	before := e.mem.Calls("Outbox")
	e.get("/v1/documents?limit=1&recipient=000.00.00.X99", tokHanoi)
	if n := e.mem.Calls("Outbox") - before; n > 10 {
		t.Errorf("one page made %d Outbox calls", n)
	}
}

// TestAgencySearch exercises the directory search beyond the contract
// test: folding in queries and names, codes, parents, inactive agencies,
// and a directory that changes.
func TestAgencySearch(t *testing.T) {
	e := newEnv(t)
	e.mem.SetAgencies(testAgencies...)
	search := func(q string) []string {
		t.Helper()
		w := e.get("/v1/directory/agencies?"+q, tokBNV)
		var p restapi.AgencyPage
		decode(t, w, &p)
		var ids []string
		for _, a := range p.Agencies {
			ids = append(ids, a.OrganID)
		}
		return ids
	}
	const hb, dn, gone = "000.00.00.H23", "000.00.00.H15", "000.00.00.H99"
	tests := []struct {
		q    string
		want []string
	}{
		{"q=" + url.QueryEscape("Hòa Bình"), []string{hb}},
		{"q=" + url.QueryEscape("HOA BINH"), []string{hb}},
		{"q=" + url.QueryEscape("Ho\u0300a"), []string{hb}},
		{"q=" + url.QueryEscape("da nang"), []string{dn}},
		{"q=" + url.QueryEscape("ĐÀ NẴNG"), []string{dn}},
		{"q=" + url.QueryEscape("đà"), []string{dn, hb, hanoi, hanoiSub}}, // substrings: "dân" too
		{"q=" + url.QueryEscape("nẵng đà"), []string{dn}},                 // every word, any order
		{"q=" + url.QueryEscape("ha noi van phong"), []string{hanoiSub}},
		{"q=g09", []string{bnv}},
		{"q=" + url.QueryEscape("000.00.00.H2"), []string{hb, hanoi}},
		{"q=" + url.QueryEscape("giai the"), nil},
		{"q=" + url.QueryEscape("giai the") + "&all=true", []string{gone}},
		{"parent=" + hanoi, []string{hanoiSub}},
		{"q=" + url.QueryEscape("hà nội") + "&parent=" + hanoi, []string{hanoiSub}},
		{"q=zzz", nil},
		{"", []string{bnv, vpcp, dn, hb, hanoi, hanoiSub}},
	}
	for _, tt := range tests {
		if got := search(tt.q); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.q, got, tt.want)
		}
	}
	// A directory change shows at once.
	e.mem.SetAgencies(append(slices.Clone(testAgencies), bus.Agency{OrganID: "000.00.00.H31", Name: "Ủy ban nhân dân tỉnh Hưng Yên", Edge: "e", Active: true})...)
	if got := search("q=hung+yen"); !slices.Equal(got, []string{"000.00.00.H31"}) {
		t.Errorf("after the change: %v", got)
	}
}
