package dashboard

import (
	"bytes"
	"net/url"
	"path/filepath"
	"testing"
	"time"
)

// The parsers of the dashboard: its stored records (a damaged file must
// give errors, never panics) and the search parameters and cursors that
// come from the network.

func FuzzDecodeStats(f *testing.F) {
	s := Stats{Sent: 3, Await01: 2}
	s.T01.Add(time.Minute)
	f.Add(encodeStats(&s))
	f.Add([]byte{statsVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeStats(b)
		if err != nil {
			return
		}
		if again := encodeStats(&st); !bytes.Equal(again, b) {
			// Varints have one shortest form but decode longer ones too;
			// what decodes must re-decode to the same values.
			st2, err := decodeStats(again)
			if err != nil || st2.Sent != st.Sent || st2.T01.Count() != st.T01.Count() {
				t.Fatalf("re-decoding %x: %v", again, err)
			}
		}
		st.T01.Quantile(0.5)
		st.T03.Quantile(0.99)
	})
}

func FuzzDecodePair(f *testing.F) {
	f.Add(encodePair(&pair{Stage: StageAwait01, Edge: "hanoi", Sent: 1, Last: "01"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePair(b)
		if err != nil {
			return
		}
		if q, err := decodePair(encodePair(&p)); err != nil || q != p {
			t.Fatalf("round trip of %+v: %+v, %v", p, q, err)
		}
	})
}

// FuzzSearch runs searches with arbitrary parameters, as the HTTP handler
// passes them, against a small dashboard: refused with a SearchError or
// answered, never a panic.
func FuzzSearch(f *testing.F) {
	w := newWorld(f)
	fillScenario(w)
	d := w.open(filepath.Join(f.TempDir(), "dashboard.db"), &clock{now: at(60)})
	f.Cleanup(func() { d.Close() })
	if err := d.Sync(ctxT(f)); err != nil {
		f.Fatal(err)
	}
	f.Add("document_id=000&limit=2")
	f.Add("code=UBND&sender=000.00.00.G22")
	f.Add("recipient=000.00.01.H26&from=2026-03-02&to=2026-03-02")
	f.Add("cursor=BQ&limit=1")
	f.Add("cursor=AzAwMC4wMC4wMC5HMjIA&recipient=000.00.00.G22")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q := SearchQuery{DocumentID: v.Get("document_id"), Code: v.Get("code"), Sender: v.Get("sender"), Recipient: v.Get("recipient"), Cursor: v.Get("cursor")}
		if q.From, err = parseDay("from", v.Get("from"), false); err != nil {
			return
		}
		if q.Until, err = parseDay("to", v.Get("to"), true); err != nil {
			return
		}
		res, err := d.Search(ctxT(t), q)
		if err != nil {
			if _, ok := err.(*SearchError); !ok {
				t.Fatalf("search %q: %v (not a SearchError)", raw, err)
			}
			return
		}
		if len(res.Letters) > DefaultSearchLimit {
			t.Fatalf("%d letters", len(res.Letters))
		}
	})
}
