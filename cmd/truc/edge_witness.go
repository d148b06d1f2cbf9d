package main

import "context"

// startWitness prepares the edge's witness of the axis log, if configured
// (placeholder; the witness wiring replaces it); run (nil when there is
// nothing to run) is started with the edge and returns when ctx ends.
func (n *edgeNode) startWitness(ctx context.Context) (run func(context.Context) error, err error) {
	return nil, nil
}
