package boltstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"truc.vn/truc/bus"
)

// TestMigrateSchema1: a schema-1 edge file (an item taken and answered
// with one 01 per recipient agency, recorded only as the item's first
// TakenAt and Status01) opens as schema 2 with per-agency deliveries that
// pass Check, and a later Take queues no second 01.
func TestMigrateSchema1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "edge.db")
	s, err := Open(path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	pkg := []byte("<edXML>an incoming letter</edXML>")
	in, _, err := s.Edge().Receive(ctx, bus.InboxItem{
		SHA256: sha256Sum(pkg), MessageID: "in.1", Type: bus.TypeDocument, Key: "000.00.00.H41/doc-1",
		Sender: "000.00.00.H41", Recipients: []string{"000.00.00.G22", "000.00.01.G22"}, ReceivedAt: time.Now(),
	}, pkg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sts []bus.OutboxEntry
	for i, organ := range in.Recipients {
		p := []byte("<edXML>01 from " + organ + "</edXML>")
		sts = append(sts, bus.OutboxEntry{Message: bus.Message{
			ID: "s01-" + string(rune('a'+i)), Type: bus.TypeStatus, Key: in.Key, Sender: organ,
			Recipients: []string{in.Sender}, SHA256: sha256Sum(p), Package: p, Attrs: map[string]string{bus.AttrStatus: "01"},
		}, InboxID: in.ID})
	}
	takenAt := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	if _, err := s.Edge().Take(ctx, in.ID, bus.Taking{At: takenAt, Statuses: sts}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Make it a schema-1 file: no deliveries, schema 1.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketInbox)
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var r map[string]any
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			delete(r, "deliveries")
			nv, _ := json.Marshal(r)
			if err := b.Put(k, nv); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint32(nil, 1))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Config{})
	if err != nil {
		t.Fatalf("opening the schema-1 file: %v", err)
	}
	defer s.Close()
	if err := s.Edge().Check(ctx); err != nil {
		t.Fatalf("Check after the migration: %v", err)
	}
	item, _, err := s.Edge().Item(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, organ := range in.Recipients {
		d := item.Deliveries[organ]
		if d.Status01 != sts[i].Message.ID || !d.TakenAt.Equal(takenAt) {
			t.Errorf("delivery to %s after the migration = %+v, want 01 %s taken at %v", organ, d, sts[i].Message.ID, takenAt)
		}
	}
	again := sts[0]
	again.Message.ID, again.Message.Package = "s01-again", []byte("<edXML>another 01</edXML>")
	again.Message.SHA256 = sha256Sum(again.Message.Package)
	if _, err := s.Edge().Take(ctx, in.ID, bus.Taking{At: time.Now(), Statuses: []bus.OutboxEntry{again}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Edge().Sent(ctx, "s01-again"); err == nil {
		t.Fatal("a Take after the migration queued a second 01 for an answered agency")
	}
	var schema uint32
	_ = s.View(func(tx *bolt.Tx) error {
		schema = binary.BigEndian.Uint32(tx.Bucket(bucketMeta).Get(keySchema))
		return nil
	})
	if schema != SchemaVersion {
		t.Fatalf("schema after the migration = %d, want %d", schema, SchemaVersion)
	}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
