package main

import (
	"context"
	"errors"
	"io"
)

// runVerify is being written; see the issue tracker.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("verify: not built yet")
}
