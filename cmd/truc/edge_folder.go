package main

import "context"

// folderSection is the edge config's folder: section (placeholder; the
// drop-folder wiring replaces it).
type folderSection struct{}

func (s *folderSection) resolve(path string) {}

func (s *folderSection) validate() []error { return nil }

// startFolder prepares the drop folder, if configured; run (nil when there
// is nothing to run) is started with the edge and returns when ctx ends.
func (n *edgeNode) startFolder(ctx context.Context) (run func(context.Context) error, err error) {
	return nil, nil
}
