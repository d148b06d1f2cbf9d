package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"truc.vn/truc/adapters/restapi"
)

// TestRedeliveryAfterRetention: a recipient edge is offline while the
// records of its inbox topic are deleted, as retention would delete them
// from an edge that stays away longer than the topic keeps records. When it
// comes back, the axis redelivers from its own package store, and the
// letter arrives once.
func TestRedeliveryAfterRetention(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: starts 5 processes")
	}
	w := startProcWorld(t, 3, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sender, away := w.m.Edges[0], w.m.Edges[2]
	api := w.api[sender.ID]

	w.edges[away.ID].stop()
	sub, err := api.Submit(ctx, letter(t, sender.OrganID, []string{away.OrganID}, "301", nil, nil), "")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the axis publishes the letter to the offline edge", func() (bool, string) {
		doc, err := api.Document(ctx, sub.ID)
		if err != nil {
			return false, err.Error()
		}
		for _, rt := range doc.Timeline {
			for _, ev := range rt.Events {
				if ev.Kind == "delivered" && ev.Edge == away.ID {
					return true, ""
				}
			}
		}
		return false, "not delivered yet"
	})

	// Retention: delete every record of the offline edge's inbox topic.
	topic := "truc.inbox." + away.ID
	deleted := deleteAllRecords(t, w.m.Broker, topic)
	if deleted == 0 {
		t.Fatalf("no record was deleted from %s: the letter was never there", topic)
	}
	t.Logf("deleted %d records from %s", deleted, topic)

	w.restart(w.edges[away.ID])
	d := newDMS(away.ID, w.api[away.ID], true)
	go d.run(ctx)
	eventually(t, 90*time.Second, "the redelivered letter taken (01 at the sender)", func() (bool, string) {
		doc, err := api.Document(ctx, sub.ID)
		if err != nil {
			return false, err.Error()
		}
		return slices.Contains(statusesBy(doc)[away.OrganID], "01"), "no 01 yet"
	})
	var docs []restapi.Item
	for _, it := range d.snapshot() {
		if it.Type == "document" {
			docs = append(docs, it)
		}
	}
	if len(docs) != 1 || docs[0].MessageID != sub.ID {
		t.Fatalf("the edge that was away has %d documents, want the letter once: %+v", len(docs), docs)
	}
}

// deleteAllRecords deletes the records of every partition of topic up to
// its high watermark (DeleteRecords, as retention does) and returns how many
// records went.
func deleteAllRecords(t *testing.T, broker, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil || len(mresp.Topics) != 1 {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	partitions := len(mresp.Topics[0].Partitions)

	list := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	for p := range partitions {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp = int32(p), -1 // latest
		lt.Partitions = append(lt.Partitions, lp)
	}
	list.Topics = append(list.Topics, lt)
	lresp, err := list.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	del := kmsg.NewPtrDeleteRecordsRequest()
	del.TimeoutMillis = 10000
	dt := kmsg.NewDeleteRecordsRequestTopic()
	dt.Topic = topic
	for _, lp := range lresp.Topics[0].Partitions {
		total += lp.Offset
		dp := kmsg.NewDeleteRecordsRequestTopicPartition()
		dp.Partition, dp.Offset = lp.Partition, lp.Offset
		dt.Partitions = append(dt.Partitions, dp)
	}
	del.Topics = append(del.Topics, dt)
	dresp, err := del.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range dresp.Topics {
		for _, p := range tp.Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("DeleteRecords %s/%d: error code %d", topic, p.Partition, p.ErrorCode)
			}
			if p.LowWatermark < 0 {
				t.Fatalf("DeleteRecords %s/%d: low watermark %d", topic, p.Partition, p.LowWatermark)
			}
		}
	}
	return total
}
