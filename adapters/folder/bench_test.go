package folder_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"truc.vn/truc/adapters/folder"
)

// BenchmarkSend measures the files per second a folder sends, against
// the baseline of the same packages submitted to the same kind of edge
// directly, with as many concurrent callers as the folder has workers: the
// ratio is what the folder's own work (scans, reads, the sidecar fsyncs,
// the moves) costs. Run with -benchtime=200x or so.
func BenchmarkSend(b *testing.B) {
	for _, mode := range []string{"direct", "folder"} {
		b.Run(mode, func(b *testing.B) {
			w := newWorld(b)
			pkgs := make([][]byte, b.N)
			for i := range pkgs {
				pkgs[i] = w.letter(organA, organH)
			}
			b.ResetTimer()
			start := time.Now()
			switch mode {
			case "direct":
				var wg sync.WaitGroup
				next := make(chan int)
				for range folder.DefaultWorkers {
					wg.Go(func() {
						for i := range next {
							if _, _, err := w.edge.Submit(context.Background(), "bench", []string{organA}, pkgs[i], fmt.Sprintf("k%d", i)); err != nil {
								b.Error(err)
							}
						}
					})
				}
				for i := range pkgs {
					next <- i
				}
				close(next)
				wg.Wait()
			case "folder":
				root := b.TempDir()
				f, err := folder.New(folder.Config{Root: root, OrganIDs: []string{organA}, Settle: folder.NoSettle, Poll: 20 * time.Millisecond}, w.edge)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- f.Run(ctx) }()
				for i, p := range pkgs {
					tmp := filepath.Join(root, "outbox", fmt.Sprintf(".%d.tmp", i))
					if err := os.WriteFile(tmp, p, 0o644); err != nil {
						b.Fatal(err)
					}
					if err := os.Rename(tmp, filepath.Join(root, "outbox", fmt.Sprintf("%d.edxml", i))); err != nil {
						b.Fatal(err)
					}
				}
				for {
					es, err := os.ReadDir(filepath.Join(root, "sent"))
					if err != nil {
						b.Fatal(err)
					}
					if len(es) == 2*b.N {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
				cancel()
				<-done
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "files/s")
		})
	}
}
