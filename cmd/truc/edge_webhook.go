package main

import "context"

// webhookSection is the edge config's webhooks: section (placeholder; the
// webhook wiring replaces it).
type webhookSection struct{}

func (s *webhookSection) resolve(path string) {}

func (s *webhookSection) validate() []error { return nil }

// startWebhooks prepares the webhook dispatcher, if configured; run (nil
// when there is nothing to run) is started with the edge and returns when
// ctx ends.
func (n *edgeNode) startWebhooks(ctx context.Context) (run func(context.Context) error, err error) {
	return nil, nil
}
