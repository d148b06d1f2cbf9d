package main

import (
	"context"
	"errors"
	"io"
)

// runEdoc is being written; see the issue tracker.
func runEdoc(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("edoc: not built yet")
}
