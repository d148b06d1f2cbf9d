package main

import (
	"context"
	"errors"
	"io"
)

// runSign is being written; see the issue tracker.
func runSign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("sign: not built yet")
}
