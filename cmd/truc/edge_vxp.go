package main

import "net/http"

// vxpSection is the edge config's vxp: section (placeholder; the VXP
// wiring replaces it).
type vxpSection struct{}

func (s *vxpSection) resolve(path string) {}

func (s *vxpSection) validate() []error { return nil }

// startVXP mounts the VXP-compatible API, if configured.
func (n *edgeNode) startVXP(mux *http.ServeMux) error { return nil }
