package bustest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"truc.vn/truc/bus"
)

// Harness gives the Transport suite a fresh broker and the two things the
// bus.Transport interface does not offer. Each subtest calls the factory
// passed to TestTransport once, so subtests never share topics or groups.
type Harness struct {
	// NewTransport returns a new Transport connected to the harness's
	// broker. The suite calls it several times per subtest (two consumers
	// in one group, a restarted consumer) and closes every one. The
	// Transport must retry a failed handler after at most 200 ms, so that
	// the retry tests stay short.
	NewTransport func(t *testing.T) bus.Transport
	// CreateTopic creates a topic with the given number of partitions.
	CreateTopic func(t *testing.T, topic string, partitions int)
	// PublishRaw writes one record exactly as given to one partition,
	// bypassing Message encoding, so that the suite can plant records a
	// correct Transport would never write.
	PublishRaw func(t *testing.T, topic string, partition int, key []byte, headers []bus.Header, value []byte)
}

// wait bounds every wait in the suite. Kafka consumer groups need a few
// seconds to form and rebalance; nothing here should need more than this.
const wait = 45 * time.Second

// TestTransport runs the bus.Transport conformance suite. newHarness is
// called once per subtest; subtests run in parallel.
func TestTransport(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"RoundTrip", testRoundTrip},
		{"PublishRejectsInvalid", testPublishRejectsInvalid},
		{"UnknownTopicAndBadArguments", testUnknownTopic},
		{"OrderPerKey", testOrderPerKey},
		{"ResumeAfterStopWithoutLossOrDuplicates", testResume},
		{"HandlerErrorRetriesSameRecord", testRetry},
		{"StuckPartitionDoesNotBlockOthers", testStuckPartition},
		{"TwoConsumersShareOneGroup", testTwoConsumers},
		{"LargeMessage16MiB", testLargeMessage},
		{"UndecodableRecordsReachHandlerInPlace", testUndecodable},
		{"CancelStopsConsume", testCancel},
		{"CloseUnblocksConsume", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newHarness(t))
		})
	}
}

func testRoundTrip(t *testing.T, h Harness) {
	const topic = "rt"
	h.CreateTopic(t, topic, 3)
	tr := newTransport(t, h)

	doc := message("rt-1", 1, []byte("<doc/>\x00\xff\xfe raw bytes, not UTF-8"))
	doc.Recipients = []string{"000.00.00.H41", "000.00.00.H42", "vxp.saas.02"}
	doc.Attrs = map[string]string{"status.code": "01", "note": "Văn bản đến", "empty": ""}
	status := message("rt-2", 2, []byte("<status/>"))
	status.Type, status.Sender, status.Recipients = bus.TypeStatus, "000.00.00.H41", []string{"000.00.00.G22"}
	receipt := message("rt-3", 3, []byte("<receipt/>"))
	receipt.Type = bus.TypeReceipt
	rejection := message("rt-4", 1, []byte("<rejection/>"))
	rejection.Type = bus.TypeRejection
	dead := bus.DeadLetter(bus.Delivery{Message: message("x", 1, []byte("y")), Topic: "src", Partition: 1, Offset: 9}, errors.New("poison"))
	sent := []bus.Message{doc, status, receipt, rejection, dead}
	before := time.Now()
	publish(t, tr, topic, sent...)

	rec := consume(t, tr, topic, "g", nil)
	got := rec.waitCount(t, len(sent))
	byID := map[string]bus.Delivery{}
	for _, d := range got {
		if d.Err != nil {
			t.Fatalf("delivery at offset %d: unexpected Err %v", d.Offset, d.Err)
		}
		byID[d.Message.ID] = d
	}
	for _, m := range sent {
		d, ok := byID[m.ID]
		if !ok {
			t.Fatalf("message %s was not delivered", m.ID)
		}
		if !reflect.DeepEqual(d.Message, m) {
			t.Errorf("message %s changed in transit:\n got  %+v\n want %+v", m.ID, d.Message, m)
		}
		if d.Topic != topic || d.Partition < 0 || d.Partition > 2 || d.Offset < 0 || d.Attempt != 1 {
			t.Errorf("message %s: topic %q partition %d offset %d attempt %d", m.ID, d.Topic, d.Partition, d.Offset, d.Attempt)
		}
		if d.Time.Before(before.Add(-time.Minute)) || d.Time.After(time.Now().Add(time.Minute)) {
			t.Errorf("message %s: timestamp %v is not about now (%v)", m.ID, d.Time, before)
		}
	}
	if byID["rt-1"].Partition != byID["rt-4"].Partition {
		t.Errorf("two messages with the same key went to partitions %d and %d", byID["rt-1"].Partition, byID["rt-4"].Partition)
	}
}

func testPublishRejectsInvalid(t *testing.T, h Harness) {
	const topic = "inv"
	h.CreateTopic(t, topic, 1)
	tr := newTransport(t, h)
	ctx := timeout(t)

	good := message("good-1", 1, []byte("a"))
	bad := message("bad-1", 1, []byte("b"))
	bad.SHA256[0] ^= 1
	err := tr.Publish(ctx, topic, good, bad)
	var me *bus.MessageError
	if !errors.As(err, &me) || me.Field != "SHA256" || me.Reason != bus.ReasonHashMismatch {
		t.Fatalf("Publish of an invalid message: error %v, want a *bus.MessageError on SHA256", err)
	}
	noRecipients := message("bad-2", 1, []byte("c"))
	noRecipients.Recipients = nil
	if err := tr.Publish(ctx, topic, noRecipients); !errors.As(err, &me) || me.Field != "Recipients" {
		t.Fatalf("Publish without recipients: error %v, want a *bus.MessageError on Recipients", err)
	}
	if err := tr.Publish(ctx, topic); err != nil {
		t.Fatalf("Publish of nothing: %v", err)
	}
	marker := message("marker", 1, []byte("m"))
	publish(t, tr, topic, marker)
	rec := consume(t, tr, topic, "g", nil)
	got := rec.waitCount(t, 1)
	if got[0].Message.ID != "marker" || got[0].Offset != 0 {
		t.Fatalf("first record is %s at offset %d: a refused Publish wrote something", got[0].Message.ID, got[0].Offset)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(rec.all()); n != 1 {
		t.Fatalf("%d records delivered, want only the marker", n)
	}
}

func testUnknownTopic(t *testing.T, h Harness) {
	h.CreateTopic(t, "exists", 1)
	tr := newTransport(t, h)
	ctx := timeout(t)
	m := message("m1", 1, []byte("x"))
	noop := func(context.Context, bus.Delivery) error { return nil }

	start := time.Now()
	if err := tr.Publish(ctx, "does-not-exist", m); err == nil {
		t.Error("Publish to a topic that does not exist returned nil")
	}
	if err := tr.Consume(ctx, "does-not-exist", "g", noop); err == nil {
		t.Error("Consume of a topic that does not exist returned nil")
	}
	if time.Since(start) > wait/2 {
		t.Errorf("failing on a missing topic took %v", time.Since(start))
	}
	for _, name := range []string{"", "a b", "..", string(make([]byte, 300))} {
		if err := tr.Publish(ctx, name, m); err == nil {
			t.Errorf("Publish to topic %q returned nil", name)
		}
		if err := tr.Consume(ctx, name, "g", noop); err == nil {
			t.Errorf("Consume of topic %q returned nil", name)
		}
	}
	if err := tr.Consume(ctx, "exists", "", noop); err == nil {
		t.Error("Consume with an empty group returned nil")
	}
	if err := tr.Consume(ctx, "exists", "g", nil); err == nil {
		t.Error("Consume with a nil handler returned nil")
	}
}

func testOrderPerKey(t *testing.T, h Harness) {
	const (
		topic      = "order"
		publishers = 4
		keysEach   = 10
		perKey     = 30
	)
	h.CreateTopic(t, topic, 6)
	tr := newTransport(t, h)

	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			// Each call carries the next message of five keys; one key's
			// messages go out in calls that finish one after another.
			for seq := range perKey {
				for k0 := 0; k0 < keysEach; k0 += 5 {
					var batch []bus.Message
					for k := k0; k < k0+5; k++ {
						key := p*keysEach + k
						m := message(fmt.Sprintf("k%d-s%d", key, seq), key, fmt.Appendf(nil, "key %d seq %d", key, seq))
						m.Attrs = map[string]string{"seq": strconv.Itoa(seq)}
						batch = append(batch, m)
					}
					ctx, cancel := context.WithTimeout(context.Background(), wait)
					err := tr.Publish(ctx, topic, batch...)
					cancel()
					if err != nil {
						t.Errorf("Publish: %v", err)
						return
					}
				}
			}
		})
	}
	rec := consume(t, tr, topic, "g", nil)
	wg.Wait()
	if t.Failed() {
		return
	}
	got := rec.waitCount(t, publishers*keysEach*perKey)

	seqs := map[string][]int{}
	part := map[string]int{}
	for _, d := range got {
		k := d.Message.Key
		if p, ok := part[k]; ok && p != d.Partition {
			t.Fatalf("key %s seen in partitions %d and %d", k, p, d.Partition)
		}
		part[k] = d.Partition
		s, _ := strconv.Atoi(d.Message.Attrs["seq"])
		seqs[k] = append(seqs[k], s)
	}
	if len(seqs) != publishers*keysEach {
		t.Fatalf("%d keys delivered, want %d", len(seqs), publishers*keysEach)
	}
	for k, s := range seqs {
		for i, v := range s {
			if v != i {
				t.Fatalf("key %s delivered out of order: %v", k, s)
			}
		}
	}
	used := map[int]bool{}
	for _, p := range part {
		used[p] = true
	}
	if len(used) < 2 {
		t.Errorf("40 keys all went to one partition of 6: keys are not spread")
	}
}

func testResume(t *testing.T, h Harness) {
	const (
		topic   = "resume"
		total   = 150
		handleA = 60
	)
	h.CreateTopic(t, topic, 3)
	pub := newTransport(t, h)
	var sent []bus.Message
	for i := range total {
		sent = append(sent, message(fmt.Sprintf("m%03d", i), i%17, fmt.Appendf(nil, "payload %d", i)))
	}
	publish(t, pub, topic, sent...)

	// Consumer A handles 60 records; the handler of the 60th stops A and
	// still returns nil, so that record counts as handled and must be
	// committed by the stop itself. Every further handler blocks until A
	// stops and returns an error: those records were fetched but never
	// handled, and must come back.
	a := newTransport(t, h)
	var (
		mu       sync.Mutex
		handledA = map[string]bus.Delivery{}
		lastA    = map[int]int64{}
	)
	ctxA, cancelA := context.WithCancel(timeout(t))
	doneA := make(chan error, 1)
	go func() {
		doneA <- a.Consume(ctxA, topic, "g", func(ctx context.Context, d bus.Delivery) error {
			mu.Lock()
			if len(handledA) < handleA {
				handledA[d.Message.ID] = d
				lastA[d.Partition] = d.Offset
				if len(handledA) == handleA {
					cancelA()
				}
				mu.Unlock()
				return nil
			}
			mu.Unlock()
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	if err := waitErr(t, doneA); err != nil {
		t.Fatalf("consumer A: Consume returned %v after its context was cancelled, want nil", err)
	}

	// Consumer B, same group, must get exactly the rest: nothing A handled
	// (A stopped cleanly, so it committed), nothing lost.
	b := newTransport(t, h)
	rec := consume(t, b, topic, "g", nil)
	rec.waitCount(t, total-handleA)
	time.Sleep(300 * time.Millisecond) // room for wrongly redelivered records to show up
	got := rec.all()
	firstB := map[int]int64{}
	seen := map[string]bool{}
	for id := range handledA {
		seen[id] = true
	}
	for _, d := range got {
		if _, dup := handledA[d.Message.ID]; dup {
			t.Errorf("consumer B got %s (partition %d offset %d), which A had handled before a clean stop", d.Message.ID, d.Partition, d.Offset)
		}
		if seen[d.Message.ID] {
			continue
		}
		seen[d.Message.ID] = true
		if f, ok := firstB[d.Partition]; !ok || d.Offset < f {
			firstB[d.Partition] = d.Offset
		}
	}
	for _, m := range sent {
		if !seen[m.ID] {
			t.Errorf("message %s was lost across the restart", m.ID)
		}
	}
	for p, off := range firstB {
		if last, ok := lastA[p]; ok && off != last+1 {
			t.Errorf("partition %d: A handled up to offset %d, B resumed at %d", p, last, off)
		}
	}
}

func testRetry(t *testing.T, h Harness) {
	const topic = "retry"
	h.CreateTopic(t, topic, 1)
	tr := newTransport(t, h)
	var sent []bus.Message
	for i := range 5 {
		sent = append(sent, message(fmt.Sprintf("r%d", i), 1, fmt.Appendf(nil, "r%d", i)))
	}
	publish(t, tr, topic, sent...)

	var (
		mu    sync.Mutex
		trail []string
	)
	rec := consume(t, tr, topic, "g", func(_ context.Context, d bus.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		trail = append(trail, fmt.Sprintf("%s/%d@%d", d.Message.ID, d.Attempt, d.Offset))
		if d.Message.ID == "r2" && d.Attempt < 4 {
			return fmt.Errorf("ledger unavailable (attempt %d)", d.Attempt)
		}
		return nil
	})
	rec.waitUntil(t, "8 handler calls", func([]bus.Delivery) bool {
		mu.Lock()
		defer mu.Unlock()
		return len(trail) >= 8
	})
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	want := []string{"r0/1@0", "r1/1@1", "r2/1@2", "r2/2@2", "r2/3@2", "r2/4@2", "r3/1@3", "r4/1@4"}
	if !slices.Equal(trail, want) {
		t.Fatalf("handler calls %v, want %v", trail, want)
	}
}

func testStuckPartition(t *testing.T, h Harness) {
	const topic = "stuck"
	h.CreateTopic(t, topic, 2)
	tr := newTransport(t, h)

	var (
		mu      sync.Mutex
		stuckP  = -1
		stuckO  int64
		retries int
	)
	rec := consume(t, tr, topic, "g", func(_ context.Context, d bus.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		if stuckP == -1 {
			stuckP, stuckO = d.Partition, d.Offset
		}
		if d.Partition == stuckP && d.Offset == stuckO {
			retries = d.Attempt
			return errors.New("always fails")
		}
		return nil
	})
	publish(t, tr, topic, message("first", 0, []byte("first")))
	rec.waitUntil(t, "the first record to be retried twice", func([]bus.Delivery) bool {
		mu.Lock()
		defer mu.Unlock()
		return retries >= 2
	})
	var more []bus.Message
	for i := range 40 {
		more = append(more, message(fmt.Sprintf("more%d", i), i+1, fmt.Appendf(nil, "%d", i)))
	}
	publish(t, tr, topic, more...)
	rec.waitUntil(t, "records of the other partition", func(ds []bus.Delivery) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range ds {
			if d.Partition != stuckP {
				return true
			}
		}
		return false
	})
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, d := range rec.all() {
		if d.Partition == stuckP && d.Offset != stuckO {
			t.Fatalf("partition %d went past its failing record at offset %d (delivered offset %d)", stuckP, stuckO, d.Offset)
		}
	}
	if retries < 3 {
		t.Errorf("the failing record was tried %d times; it should keep being retried", retries)
	}
}

func testTwoConsumers(t *testing.T, h Harness) {
	const topic = "share"
	h.CreateTopic(t, topic, 4)
	pub := newTransport(t, h)
	c1, c2 := newTransport(t, h), newTransport(t, h)
	r1 := consume(t, c1, topic, "g", nil)
	ctx2, stop2 := context.WithCancel(timeout(t))
	r2 := &recorder{}
	done2 := make(chan error, 1)
	go func() { done2 <- c2.Consume(ctx2, topic, "g", r2.handle(nil)) }()

	var sent []bus.Message
	n := 0
	next := func(count int) []bus.Message {
		var b []bus.Message
		for range count {
			b = append(b, message(fmt.Sprintf("s%04d", n), n, fmt.Appendf(nil, "%d", n)))
			n++
		}
		sent = append(sent, b...)
		return b
	}
	// Publish in rounds until the group has formed with both members.
	deadline := time.Now().Add(wait)
	for len(r1.all()) == 0 || len(r2.all()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after %v one consumer still has nothing: %d and %d records", wait, len(r1.all()), len(r2.all()))
		}
		publish(t, pub, topic, next(8)...)
		time.Sleep(200 * time.Millisecond)
	}
	publish(t, pub, topic, next(100)...)
	waitAll(t, sent, r1, r2)

	// When one member leaves, the other takes over its partitions.
	stop2()
	if err := waitErr(t, done2); err != nil {
		t.Fatalf("second consumer: %v", err)
	}
	tail := next(60)
	publish(t, pub, topic, tail...)
	waitAll(t, tail, r1)
}

func testLargeMessage(t *testing.T, h Harness) {
	const topic = "large"
	h.CreateTopic(t, topic, 1)
	tr := newTransport(t, h)
	pkg := make([]byte, 16<<20)
	if _, err := rand.Read(pkg); err != nil {
		t.Fatal(err)
	}
	m := message("large-1", 1, pkg)
	publish(t, tr, topic, m, message("after", 1, []byte("small")))
	rec := consume(t, tr, topic, "g", nil)
	got := rec.waitCount(t, 2)
	if got[0].Err != nil || got[0].Message.ID != "large-1" {
		t.Fatalf("first delivery: %s, err %v", got[0].Message.ID, got[0].Err)
	}
	if sha256.Sum256(got[0].Message.Package) != m.SHA256 || len(got[0].Message.Package) != len(pkg) {
		t.Fatalf("the 16 MiB package changed in transit (%d bytes back)", len(got[0].Message.Package))
	}
}

func testUndecodable(t *testing.T, h Harness) {
	const topic, dlq = "in", "in.dlq"
	h.CreateTopic(t, topic, 1)
	h.CreateTopic(t, dlq, 1)
	tr := newTransport(t, h)

	good := message("good", 1, []byte("<good/>"))
	tampered := message("tampered", 1, []byte("<signed/>"))
	tamperedValue := []byte("<signed/> with a changed byte")
	h.PublishRaw(t, topic, 0, []byte(tampered.Key), tampered.WireHeaders(), tamperedValue)
	h.PublishRaw(t, topic, 0, []byte("some key"), nil, []byte("no headers at all"))
	h.PublishRaw(t, topic, 0, []byte(good.Key), good.WireHeaders(), good.Package)
	publish(t, tr, topic, message("after", 2, []byte("<after/>")))

	rec := consume(t, tr, topic, "g", func(ctx context.Context, d bus.Delivery) error {
		if d.Err == nil {
			return nil
		}
		return tr.Publish(ctx, dlq, bus.DeadLetter(d, d.Err))
	})
	got := rec.waitCount(t, 4)
	checks := []struct {
		id     string
		field  string
		reason bus.Reason
		value  []byte
	}{
		{"tampered", "header truc-sha256", bus.ReasonHashMismatch, tamperedValue},
		{"", "header truc-v", bus.ReasonMissing, []byte("no headers at all")},
		{"good", "", "", good.Package},
		{"after", "", "", []byte("<after/>")},
	}
	for i, c := range checks {
		d := got[i]
		if d.Offset != int64(i) {
			t.Fatalf("delivery %d is offset %d: records were skipped or reordered", i, d.Offset)
		}
		if string(d.Message.Package) != string(c.value) || d.Message.SHA256 != sha256.Sum256(c.value) {
			t.Errorf("offset %d: Package is not the exact record value", i)
		}
		var me *bus.MessageError
		switch {
		case c.field == "" && d.Err != nil:
			t.Errorf("offset %d: unexpected Err %v", i, d.Err)
		case c.field != "" && (!errors.As(d.Err, &me) || me.Field != c.field || me.Reason != c.reason):
			t.Errorf("offset %d: Err = %v, want %s on %s", i, d.Err, c.reason, c.field)
		case d.Message.ID != c.id:
			t.Errorf("offset %d: decoded ID %q, want %q", i, d.Message.ID, c.id)
		}
	}

	dead := consume(t, tr, dlq, "g", nil).waitCount(t, 2)
	for i, d := range dead {
		m := d.Message
		if d.Err != nil || m.Type != bus.TypeDeadLetter {
			t.Fatalf("dead letter %d: type %q, err %v", i, m.Type, d.Err)
		}
		if string(m.Package) != string(checks[i].value) {
			t.Errorf("dead letter %d does not keep the exact record value", i)
		}
		if m.Attrs[bus.AttrDeadLetterCode] != string(checks[i].reason) || m.Attrs[bus.AttrDeadLetterTopic] != topic ||
			m.Attrs[bus.AttrDeadLetterOffset] != strconv.Itoa(i) || m.Attrs[bus.AttrDeadLetterReason] == "" {
			t.Errorf("dead letter %d attributes %v", i, m.Attrs)
		}
	}
}

func testCancel(t *testing.T, h Harness) {
	const topic = "cancel"
	h.CreateTopic(t, topic, 2)
	tr := newTransport(t, h)
	ctx, cancel := context.WithCancel(timeout(t))
	done := make(chan error, 1)
	go func() {
		done <- tr.Consume(ctx, topic, "g", func(context.Context, bus.Delivery) error { return nil })
	}()
	time.Sleep(500 * time.Millisecond)
	cancel()
	if err := waitErr(t, done); err != nil {
		t.Fatalf("Consume returned %v after its context was cancelled, want nil", err)
	}
	// The Transport is still usable after one Consume ended.
	publish(t, tr, topic, message("later", 1, []byte("later")))
	consume(t, tr, topic, "g", nil).waitCount(t, 1)
}

func testClose(t *testing.T, h Harness) {
	const topic = "close"
	h.CreateTopic(t, topic, 2)
	tr := h.NewTransport(t)
	publish(t, tr, topic, message("before", 1, []byte("x")))
	started := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- tr.Consume(timeout(t), topic, "g", func(ctx context.Context, d bus.Delivery) error {
			once.Do(func() { close(started) })
			return nil
		})
	}()
	select {
	case <-started:
	case <-time.After(wait):
		t.Fatal("consumer did not start")
	}
	closed := make(chan error, 1)
	go func() { closed <- tr.Close() }()
	if err := waitErr(t, closed); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := waitErr(t, done); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Consume returned %v after Close, want bus.ErrClosed", err)
	}
	ctx := timeout(t)
	if err := tr.Publish(ctx, topic, message("after", 1, []byte("y"))); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after Close returned %v, want bus.ErrClosed", err)
	}
	if err := tr.Consume(ctx, topic, "g", func(context.Context, bus.Delivery) error { return nil }); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Consume after Close returned %v, want bus.ErrClosed", err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// message returns a valid document message under root document key k.
func message(id string, k int, pkg []byte) bus.Message {
	key, err := bus.RootKey("000.00.00.G22", fmt.Sprintf("000.00.00.G22,2026/11/22,%d/VPCP", k))
	if err != nil {
		panic(err)
	}
	return bus.Message{
		ID:         id,
		Type:       bus.TypeDocument,
		Key:        key,
		Sender:     "000.00.00.G22",
		Recipients: []string{"000.00.00.H41"},
		SHA256:     sha256.Sum256(pkg),
		Package:    pkg,
	}
}

func newTransport(t *testing.T, h Harness) bus.Transport {
	t.Helper()
	tr := h.NewTransport(t)
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tr
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
	t.Cleanup(cancel)
	return ctx
}

func publish(t *testing.T, tr bus.Transport, topic string, msgs ...bus.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := tr.Publish(ctx, topic, msgs...); err != nil {
		t.Fatalf("Publish to %s: %v", topic, err)
	}
}

func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(wait):
		t.Fatal("timed out waiting for the call to return")
		return nil
	}
}

// consume runs Consume in the background until the test ends, recording
// every delivery for which handle (nil: always succeed) returned nil.
func consume(t *testing.T, tr bus.Transport, topic, group string, handle bus.Handler) *recorder {
	t.Helper()
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Consume(ctx, topic, group, rec.handle(handle)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, bus.ErrClosed) {
				t.Errorf("Consume(%s, %s) returned %v", topic, group, err)
			}
		case <-time.After(wait):
			t.Errorf("Consume(%s, %s) did not return after cancel", topic, group)
		}
	})
	return rec
}

type recorder struct {
	mu sync.Mutex
	ds []bus.Delivery
}

func (r *recorder) handle(next bus.Handler) bus.Handler {
	return func(ctx context.Context, d bus.Delivery) error {
		if next != nil {
			if err := next(ctx, d); err != nil {
				return err
			}
		}
		r.mu.Lock()
		r.ds = append(r.ds, d)
		r.mu.Unlock()
		return nil
	}
}

func (r *recorder) all() []bus.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ds)
}

func (r *recorder) waitUntil(t *testing.T, what string, cond func([]bus.Delivery) bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond(r.all()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (%d deliveries so far)", wait, what, len(r.all()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitCount waits for n handled deliveries and returns them sorted by
// partition and offset.
func (r *recorder) waitCount(t *testing.T, n int) []bus.Delivery {
	t.Helper()
	r.waitUntil(t, fmt.Sprintf("%d deliveries", n), func(ds []bus.Delivery) bool { return len(ds) >= n })
	ds := r.all()
	slices.SortStableFunc(ds, func(a, b bus.Delivery) int {
		if a.Partition != b.Partition {
			return a.Partition - b.Partition
		}
		return int(a.Offset - b.Offset)
	})
	return ds
}

// waitAll waits until every message of want was handled by one of recs.
func waitAll(t *testing.T, want []bus.Message, recs ...*recorder) {
	t.Helper()
	missing := func() []string {
		seen := map[string]bool{}
		for _, r := range recs {
			for _, d := range r.all() {
				seen[d.Message.ID] = true
			}
		}
		var m []string
		for _, w := range want {
			if !seen[w.ID] {
				m = append(m, w.ID)
			}
		}
		return m
	}
	deadline := time.Now().Add(wait)
	for m := missing(); len(m) > 0; m = missing() {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages never delivered, e.g. %v", len(m), m[:min(5, len(m))])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
