package boltstore

import (
	"context"

	bolt "go.etcd.io/bbolt"
)

// View exposes read transactions to the external tests and benchmarks
// (a bare-bbolt baseline on the store's own file).
func (s *Store) View(fn func(tx *bolt.Tx) error) error { return s.view(context.Background(), fn) }
