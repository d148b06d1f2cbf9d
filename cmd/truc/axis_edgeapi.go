package main

import (
	"fmt"
	"net/http"

	"truc.vn/truc/adapters/directory"
)

// edgeAPI returns the axis endpoint through which an edge puts or
// deactivates the agencies it serves (what a DMS asks with VXP
// registerAgency and deleteAgency): POST directory.EdgeAgencyPath, with
// the edge's sync token and the request signed with its seal key,
// checked against the edge's certificates in the directory as rejection
// notices are (noticeVerifiers). See directory.EdgeAPIHandler for the
// rules. routes mounts it:
//
//	mux.Handle(directory.EdgeAgencyPath, edgeAPI)
func (n *axisNode) edgeAPI() (http.Handler, error) {
	h, err := directory.NewEdgeAPIHandler(n.dir, directory.EdgeAPIConfig{
		TokensSHA256: n.cfg.Directory.SyncTokens,
		Verifiers:    noticeVerifiers,
		Logger:       n.log,
	})
	if err != nil {
		return nil, fmt.Errorf("directory.sync_tokens_sha256: %w", err)
	}
	return h, nil
}
