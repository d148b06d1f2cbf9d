package bus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// task is one long-running part of a node.
type task struct {
	name string
	run  func(context.Context) error
}

// runTasks runs every task until ctx is done. The first task that fails
// stops the others; runTasks waits for all of them and returns that
// failure (wrapped with who and name), or nil on a clean stop.
func runTasks(ctx context.Context, who string, tasks ...task) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(tasks))
	var wg sync.WaitGroup
	for _, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := t.run(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s %s: %w", who, t.name, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// every calls f every d until ctx is done, logging its errors as what.
func every(ctx context.Context, d time.Duration, log *slog.Logger, what string, f func(context.Context) error) error {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := f(ctx); err != nil && ctx.Err() == nil {
			log.Error(what, "err", err)
		}
	}
}
