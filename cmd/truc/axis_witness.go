package main

import (
	"net/http"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/adapters/directory"
	"truc.vn/truc/adapters/witness"
	"truc.vn/truc/bus"
)

// witnessRoutes serves the axis side of witnessing (witness.Handler):
// POST /v1/log/cosignatures takes checkpoints cosigned by edges, whose
// keys are their seal certificates in the directory; GET /v1/log/cosigned
// serves checkpoints with their cosignatures.
func (n *axisNode) witnessRoutes(mux *http.ServeMux) {
	logKeys, err := verifiersFromText(n.logKey)
	if err == nil {
		var h *witness.Handler
		h, err = witness.NewHandler(witness.HandlerConfig{
			Store:     n.store.Log(),
			LogKeys:   logKeys,
			Witnesses: directoryWitnesses{n.dir},
			Logger:    n.log,
		})
		if err == nil {
			mux.Handle(witness.PathCosignatures, h)
			mux.Handle(witness.PathCosigned, h)
			return
		}
	}
	// Only a programming error gets here: the log key was parsed at start.
	n.log.Error("axis: the witness endpoints are not served", "err", err)
}

// directoryWitnesses are the witness keys the axis accepts: the seal
// certificates of the directory's edges, each under
// bus.EdgeNoteName(edge ID), looked up at every call so that an edge
// added or re-keyed through the admin API counts at once.
type directoryWitnesses struct{ dir *directory.Directory }

func (d directoryWitnesses) Verifier(name string, hash uint32) (note.Verifier, error) {
	id, ok := strings.CutPrefix(name, bus.EdgeNoteName(""))
	if ok {
		if e, found := d.dir.Edge(id); found {
			if vs, err := noticeVerifiers(e); err == nil {
				return vs.Verifier(name, hash)
			}
		}
	}
	return nil, &note.UnknownVerifierError{Name: name, KeyHash: hash}
}
