package restapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// Bounds of GET /v1/directory/agencies.
const (
	DefaultAgencyLimit = 50
	MaxAgencyLimit     = 1000
	MaxAgencyQuery     = 200 // characters of q
)

// agencyIndex caches the directory's agencies with their folded search
// text, rebuilt when the directory's version changes.
type agencyIndex struct {
	mu       sync.Mutex
	loaded   bool
	version  int64
	agencies []bus.Agency // by OrganID
	folded   []string     // Fold(OrganID + " " + Name)
}

// get returns the agencies of d and their search text. The slices are
// shared: do not modify them.
func (x *agencyIndex) get(d bus.Directory) ([]bus.Agency, []string) {
	v := d.Version()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.loaded && x.version == v {
		return x.agencies, x.folded
	}
	ags := slices.Clone(d.Agencies())
	slices.SortFunc(ags, func(a, b bus.Agency) int { return strings.Compare(a.OrganID, b.OrganID) })
	folded := make([]string, len(ags))
	for i, a := range ags {
		folded[i] = Fold(a.OrganID + " " + a.Name)
	}
	x.loaded, x.version, x.agencies, x.folded = true, v, ags, folded
	return ags, folded
}

// searchAgencies lists the directory's agencies whose OrganId or name
// contains every word of q, compared after Fold, in OrganId order.
func (h *Handler) searchAgencies(w http.ResponseWriter, r *http.Request, c *caller) *Problem {
	q, p := singleQuery(r, "GET /v1/directory/agencies", "q", "limit", "cursor", "parent", "all")
	if p != nil {
		return p
	}
	text := q["q"]
	if !utf8.ValidString(text) {
		return problem(http.StatusBadRequest, ReasonBadParameter, "q", "not valid UTF-8")
	}
	if n := utf8.RuneCountInString(text); n > MaxAgencyQuery {
		return problem(http.StatusBadRequest, ReasonBadParameter, "q", "%d characters, at most %d", n, MaxAgencyQuery)
	}
	limit := DefaultAgencyLimit
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxAgencyLimit {
			return problem(http.StatusBadRequest, ReasonBadParameter, "limit", "must be a whole number from 1 to %d", MaxAgencyLimit)
		}
		limit = n
	}
	cursor, hasCursor := q["cursor"]
	if hasCursor && !edoc.IsOrganID(cursor) {
		return problem(http.StatusBadRequest, ReasonBadParameter, "cursor", "must be the next of a previous page (an OrganId)")
	}
	parent, hasParent := q["parent"]
	if hasParent && !edoc.IsOrganID(parent) {
		return problem(http.StatusBadRequest, ReasonBadParameter, "parent", "%s is not an OrganId", quote(parent))
	}
	all := false
	switch q["all"] {
	case "", "false":
	case "true":
		all = true
	default:
		return problem(http.StatusBadRequest, ReasonBadParameter, "all", "must be true or false")
	}

	words := strings.Fields(Fold(text))
	agencies, folded := h.agencies.get(h.backend.Directory())
	start := 0
	if hasCursor {
		start, _ = slices.BinarySearchFunc(agencies, cursor, func(a bus.Agency, id string) int { return strings.Compare(a.OrganID, id) })
		if start < len(agencies) && agencies[start].OrganID == cursor {
			start++
		}
	}
	page := AgencyPage{Agencies: []Agency{}}
	for i := start; i < len(agencies); i++ {
		a := agencies[i]
		if (!all && !a.Active) || (hasParent && a.Parent != parent) || !containsAll(folded[i], words) {
			continue
		}
		if len(page.Agencies) == limit {
			page.Next = page.Agencies[limit-1].OrganID
			break
		}
		page.Agencies = append(page.Agencies, Agency{OrganID: a.OrganID, Name: a.Name, Parent: a.Parent, Edge: a.Edge, Active: a.Active})
	}
	h.writeJSON(w, r, http.StatusOK, page)
	return nil
}

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}
