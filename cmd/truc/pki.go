package main

import (
	"context"
	"errors"
	"io"
)

// runPKI is being written; see the issue tracker.
func runPKI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("pki: not built yet")
}
