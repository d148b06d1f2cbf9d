package restapi

import "time"

// Routes returns the "METHOD /path" patterns h serves, public or not.
func Routes(h *Handler) []string {
	out := make([]string, len(h.routes))
	for i, rt := range h.routes {
		out[i] = rt.pattern()
	}
	return out
}

// SetMaxWait overrides the long-poll cap below what Config allows, so
// that fuzzing never waits.
func SetMaxWait(h *Handler, d time.Duration) { h.maxWait = d }
