package dashboard

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// pages runs q to the end, page by page, and returns every key in order
// and the number of pages.
func pages(t *testing.T, d *Dashboard, q SearchQuery) ([]string, int, bool) {
	t.Helper()
	var keys []string
	partial := false
	for n := 1; ; n++ {
		res, err := d.Search(ctxT(t), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Letters) > q.Limit && q.Limit > 0 {
			t.Fatalf("page %d has %d letters, the limit is %d", n, len(res.Letters), q.Limit)
		}
		partial = partial || res.Partial
		for _, l := range res.Letters {
			keys = append(keys, l.Key)
		}
		if res.Next == "" {
			return keys, n, partial
		}
		if n > 1000 {
			t.Fatal("the search never ends")
		}
		q.Cursor = res.Next
	}
}

func TestSearchPaging(t *testing.T) {
	w := newWorld(t)
	var want []string // newest first
	for i := range 130 {
		to := organ(1, 0)
		if i%10 == 3 {
			to = organ(2, 2)
		}
		l := w.send(organ(0, 0), []string{to}, fmt.Sprint(i), "", at(float64(i)))
		want = append([]string{l.key}, want...)
	}
	d := w.open(filepath.Join(t.TempDir(), "dashboard.db"), &clock{now: at(200)}, func(c *Config) { c.Batch = 1000 })
	defer d.Close()
	mustSync(t, d)

	for _, c := range []struct {
		name  string
		q     SearchQuery
		pages int
		want  []string
	}{
		{"by sender", SearchQuery{Sender: organ(0, 0), Limit: 50}, 3, want},
		{"by time", SearchQuery{Limit: 40}, 4, want},
		{"by time, one a page", SearchQuery{Limit: 1, From: at(10), Until: at(13)}, 3, want[130-13 : 130-10]},
		{"by recipient", SearchQuery{Recipient: organ(2, 2), Limit: 5}, 3, func() (out []string) {
			for i := 129; i >= 0; i-- {
				if i%10 == 3 {
					out = append(out, want[129-i])
				}
			}
			return out
		}()},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, n, _ := pages(t, d, c.q)
			if !slices.Equal(got, c.want) || n != c.pages {
				t.Errorf("%d pages of %d keys, want %d pages of %d:\n got %q\nwant %q", n, len(got), c.pages, len(c.want), got, c.want)
			}
		})
	}

	// By DocumentId prefix: in DocumentId order, each once.
	got, _, _ := pages(t, d, SearchQuery{DocumentID: organ(0, 0) + ",2026/03/02,1", Limit: 7})
	var wantIDs []string
	for _, k := range want {
		if _, id, _ := strings.Cut(k, "/"); strings.HasPrefix(id, organ(0, 0)+",2026/03/02,1") {
			wantIDs = append(wantIDs, k)
		}
	}
	slices.Sort(wantIDs)
	if !slices.Equal(got, wantIDs) {
		t.Errorf("by DocumentId prefix:\n got %q\nwant %q", got, wantIDs)
	}

	// A search whose filter rarely matches stops at maxExamined entries,
	// says so, and finds the rest when continued.
	defer func(n int) { maxExamined = n }(maxExamined)
	maxExamined = 20
	got, n, partial := pages(t, d, SearchQuery{DocumentID: organ(0, 0) + ",", Recipient: organ(2, 2), Limit: 50})
	if !partial || n < 130/20 || len(got) != 13 {
		t.Errorf("a sparse search with a small budget: %d pages, partial %t, %d letters; want ≥ 6 pages, partial, 13", n, partial, len(got))
	}
}

func TestSearchQueryCheck(t *testing.T) {
	for _, c := range []struct {
		name  string
		q     SearchQuery
		field string
	}{
		{"control character", SearchQuery{Code: "a\x00"}, "code"},
		{"invalid UTF-8", SearchQuery{DocumentID: "\xff"}, "document_id"},
		{"too long", SearchQuery{Recipient: string(make([]byte, 600))}, "recipient"},
		{"limit", SearchQuery{Limit: 201}, "limit"},
		{"range", SearchQuery{From: at(2), Until: at(1)}, "from"},
		{"cursor", SearchQuery{Cursor: "AAAA"}, "cursor"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.q.Check()
			se, ok := err.(*SearchError)
			if !ok || se.Field != c.field {
				t.Fatalf("Check() = %v, want a SearchError naming %s", err, c.field)
			}
		})
	}
	if err := (SearchQuery{Sender: organ(0, 0), Limit: 10}).Check(); err != nil {
		t.Fatal(err)
	}
}
