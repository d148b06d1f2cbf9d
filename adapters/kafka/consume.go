package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"weak"

	kafka "github.com/segmentio/kafka-go"

	"truc.vn/truc/bus"
)

// Consume implements bus.Transport.
//
// How it works: a kafka-go ConsumerGroup joins the group; for each
// generation, every assigned partition gets its own reader and goroutine
// that hands records to handle one at a time, retrying a failed record in
// place. Handled positions go to one committer per generation, which
// commits the highest handled offset of each partition every
// CommitInterval or CommitEvery records, and once more when the generation
// ends (rebalance, stop), while the generation can still commit.
func (t *Transport) Consume(ctx context.Context, topic, group string, handle bus.Handler) error {
	if handle == nil {
		return errors.New("consuming: the handler is nil")
	}
	if err := bus.ValidateTopic(topic); err != nil {
		return fmt.Errorf("consuming: %w", err)
	}
	if err := validateGroup(group); err != nil {
		return err
	}
	if !t.enterConsume() {
		return bus.ErrClosed
	}
	defer t.consumers.Done()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(t.ctx, func() { cancel(bus.ErrClosed) })()
	log := t.log.With("topic", topic, "group", group)
	stopped := func() error {
		if errors.Is(context.Cause(ctx), bus.ErrClosed) {
			return bus.ErrClosed
		}
		return nil
	}

	if err := t.waitForTopic(ctx, topic, log); err != nil {
		if ctx.Err() != nil {
			return stopped()
		}
		return err
	}
	c := t.cfg.Consumer
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                     group,
		Brokers:                t.cfg.Brokers,
		Dialer:                 t.dialer,
		Topics:                 []string{topic},
		HeartbeatInterval:      c.HeartbeatInterval,
		SessionTimeout:         c.SessionTimeout,
		RebalanceTimeout:       c.RebalanceTimeout,
		JoinGroupBackoff:       c.JoinGroupBackoff,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: c.PartitionWatchInterval,
		StartOffset:            kafka.FirstOffset, // a new group starts at the beginning: nothing is skipped
		Timeout:                t.cfg.DialTimeout,
		ErrorLogger:            kafkaLogger(log, slog.LevelDebug),
	})
	if err != nil {
		return fmt.Errorf("consuming %s as group %s: %w", topic, group, err)
	}
	// Closing the group first (not just returning) makes kafka-go end the
	// current generation, wait for our final commit, and leave the group
	// at once instead of rejoining.
	groupClosed := make(chan struct{})
	go func() {
		<-ctx.Done()
		cg.Close()
		close(groupClosed)
	}()

	var fatal error
	for ctx.Err() == nil {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				break
			}
			if fatalBrokerError(err) {
				fatal = fmt.Errorf("consuming %s as group %s: %w", topic, group, err)
				break
			}
			log.Warn("joining the consumer group failed; retrying", "err", err)
			continue
		}
		t.runGeneration(ctx, gen, topic, handle, log)
	}
	cancel(fatal)
	<-groupClosed
	if fatal != nil {
		return fatal
	}
	return stopped()
}

func validateGroup(group string) error {
	switch {
	case group == "":
		return errors.New("consuming: the consumer group name is empty")
	case len(group) > 249 || !utf8.ValidString(group):
		return fmt.Errorf("consuming: consumer group name %.64q: at most 249 bytes of UTF-8", group)
	}
	for _, r := range group {
		if isControl(r) {
			return fmt.Errorf("consuming: consumer group name %.64q has a control character", group)
		}
	}
	return nil
}

// waitForTopic returns nil once the brokers confirm topic exists, an error
// if they say it does not or refuse access, and retries anything else.
func (t *Transport) waitForTopic(ctx context.Context, topic string, log *slog.Logger) error {
	for attempt := 1; ; attempt++ {
		_, err := t.partitionCount(ctx, topic)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, kafka.UnknownTopicOrPartition):
			return fmt.Errorf("consuming %s: the topic does not exist (topics are created by EnsureTopics): %w", topic, err)
		case fatalBrokerError(err):
			return fmt.Errorf("consuming %s: %w", topic, err)
		}
		wait := backoff(attempt, 200*time.Millisecond, 10*time.Second)
		log.Warn("cannot reach the brokers; retrying", "err", err, "retry_in", wait)
		if !sleepCtx(ctx, wait) {
			return ctx.Err()
		}
	}
}

// runGeneration serves one generation and returns when it has ended.
func (t *Transport) runGeneration(ctx context.Context, gen *kafka.Generation, topic string, handle bus.Handler, log *slog.Logger) {
	done := make(chan struct{})
	gen.Start(func(gctx context.Context) {
		defer close(done)
		t.serveGeneration(ctx, gctx, gen, topic, handle, log.With("generation", gen.ID))
	})
	<-done
}

func (t *Transport) serveGeneration(ctx, gctx context.Context, gen *kafka.Generation, topic string, handle bus.Handler, log *slog.Logger) {
	assigned := gen.Assignments[topic]
	ids := make([]int, len(assigned))
	for i, a := range assigned {
		ids[i] = a.ID
	}
	log.Info("partitions assigned", "partitions", ids)

	// Handlers stop when Consume stops or the generation ends.
	hctx, hcancel := context.WithCancel(ctx)
	defer hcancel()
	defer context.AfterFunc(gctx, hcancel)()

	cm := newCommitter(t.cfg.Consumer.CommitEvery)
	var wg sync.WaitGroup
	for _, pa := range assigned {
		wg.Go(func() { t.consumePartition(hctx, topic, pa, handle, cm, log) })
	}
	workersDone := make(chan struct{})
	go func() { wg.Wait(); close(workersDone) }()

	tick := time.NewTicker(t.cfg.Consumer.CommitInterval)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-tick.C:
			t.commit(gen, topic, cm, log)
		case <-cm.kick:
			t.commit(gen, topic, cm, log)
		case <-workersDone:
			running = false
		}
	}
	// Every handler has returned: commit what they handled while this
	// generation may still commit, then hold the generation until kafka-go
	// ends it (so that no rejoin starts before Consume's own shutdown).
	t.commit(gen, topic, cm, log)
	<-gctx.Done()
}

// consumePartition hands the records of one partition to handle, in order,
// until ctx is done. A failed record is retried in place after a back-off.
func (t *Transport) consumePartition(ctx context.Context, topic string, pa kafka.PartitionAssignment, handle bus.Handler, cm *committer, log *slog.Logger) {
	log = log.With("partition", pa.ID)
	c := t.cfg.Consumer
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        t.cfg.Brokers,
		Topic:          topic,
		Partition:      pa.ID,
		Dialer:         t.dialer,
		QueueCapacity:  c.QueueCapacity,
		MinBytes:       1,
		MaxBytes:       t.cfg.TopicMaxMessageBytes(),
		MaxWait:        c.MaxWait,
		ReadBackoffMin: 100 * time.Millisecond,
		ReadBackoffMax: 2 * time.Second,
		ErrorLogger:    kafkaLogger(log, slog.LevelWarn),
	})
	defer r.Close()
	if err := r.SetOffset(pa.Offset); err != nil {
		log.Error("cannot position the partition reader", "offset", pa.Offset, "err", err)
		return
	}
	lag := t.trackLag(topic, pa)
	defer t.untrackLag(lag)
	defer t.watchLag(ctx, r, lag)()
	for ctx.Err() == nil {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("reading the partition failed; retrying", "err", err)
			if !sleepCtx(ctx, time.Second) {
				return
			}
			continue
		}
		lag.fetched(m)
		d := delivery(m)
		for attempt := 1; ; attempt++ {
			d.Attempt = attempt
			err := handle(ctx, d)
			if err == nil {
				cm.handled(pa.ID, m.Offset+1)
				lag.handled(m.Offset + 1)
				break
			}
			if ctx.Err() != nil {
				return
			}
			wait := backoff(attempt, c.RetryBackoffMin, c.RetryBackoffMax)
			log.Warn("handler failed; the record will be retried", "offset", m.Offset, "msg_id", d.Message.ID,
				"attempt", attempt, "retry_in", wait, "err", err)
			if !sleepCtx(ctx, wait) {
				return
			}
		}
	}
}

// delivery decodes a record. It never fails: an undecodable record is
// delivered with Err set, the exact value in Message.Package.
func delivery(m kafka.Message) bus.Delivery {
	hs := make([]bus.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = bus.Header{Key: h.Key, Value: h.Value}
	}
	msg, err := bus.DecodeMessage(m.Key, hs, m.Value)
	return bus.Delivery{Message: msg, Err: err, Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Time: m.Time}
}

func (t *Transport) commit(gen *kafka.Generation, topic string, cm *committer, log *slog.Logger) {
	offsets := cm.due()
	if len(offsets) == 0 {
		return
	}
	if err := gen.CommitOffsets(map[string]map[int]int64{topic: offsets}); err != nil {
		// Not fatal: the records are handled and will be committed by the
		// next attempt, or replayed by the partition's next owner.
		log.Warn("committing offsets failed", "offsets", offsets, "err", err)
		return
	}
	cm.committed(offsets)
}

// committer tracks, per partition, the offset after the last handled record
// (records are handled in order, so that is the highest contiguous one).
type committer struct {
	mu    sync.Mutex
	next  map[int]int64 // offset after the last handled record
	done  map[int]int64 // last committed
	count int           // records handled since the last due()
	every int
	kick  chan struct{}
}

func newCommitter(every int) *committer {
	return &committer{next: map[int]int64{}, done: map[int]int64{}, every: every, kick: make(chan struct{}, 1)}
}

func (c *committer) handled(partition int, next int64) {
	c.mu.Lock()
	c.next[partition] = next
	c.count++
	full := c.count >= c.every
	c.mu.Unlock()
	if full {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// due returns the positions that moved since the last commit.
func (c *committer) due() map[int]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count = 0
	var out map[int]int64
	for p, n := range c.next {
		if n > c.done[p] {
			if out == nil {
				out = map[int]int64{}
			}
			out[p] = n
		}
	}
	return out
}

func (c *committer) committed(offsets map[int]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, n := range offsets {
		if n > c.done[p] {
			c.done[p] = n
		}
	}
}

// backoff doubles from lo at the first attempt up to hi.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// PartitionLag is how far a consumer in this process is behind on one
// partition it reads.
type PartitionLag struct {
	Topic     string
	Partition int
	// Lag is the number of records from the next one the handler will be
	// given (or is handling) to the end of the partition (its high-water
	// mark), as last seen: the high-water mark comes with every fetch, and
	// is asked of the broker every LagRefresh while one record stays in
	// the handler (failing and retried, or slow), so that a stuck handler
	// shows a growing lag.
	Lag int64
}

// LagRefresh is how often a partition whose handler has been on one
// record for that long asks the broker for the partition's end.
const LagRefresh = 5 * time.Second

// ConsumerLag returns the lag of every partition this Transport's Consume
// calls are reading now, by topic and partition (the largest lag if two
// consumer groups read one partition). A partition appears once its
// reader has fetched a record or was positioned at a committed offset.
// It does no I/O and is safe for concurrent use.
func (t *Transport) ConsumerLag() []PartitionLag {
	tab := lagTableOf(t)
	tab.mu.Lock()
	byKey := map[PartitionLag]int64{} // by topic and partition (Lag left 0)
	for p := range tab.parts {
		next, end := p.next.Load(), p.end.Load()
		if next < 0 || end < 0 {
			continue
		}
		k := PartitionLag{Topic: p.topic, Partition: p.partition}
		byKey[k] = max(byKey[k], max(end-next, 0))
	}
	tab.mu.Unlock()
	out := make([]PartitionLag, 0, len(byKey))
	for k, lag := range byKey {
		k.Lag = lag
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b PartitionLag) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// partitionLag tracks one partition reader's position against the end of
// its partition.
type partitionLag struct {
	topic     string
	partition int
	next      atomic.Int64 // offset of the next record to handle; -1 until known
	end       atomic.Int64 // high-water mark as last seen; -1 until known
	busy      atomic.Bool  // a record is in the handler
}

func (p *partitionLag) fetched(m kafka.Message) {
	p.next.Store(m.Offset)
	p.sawEnd(m.HighWaterMark)
	p.busy.Store(true)
}

func (p *partitionLag) handled(next int64) {
	p.next.Store(next)
	p.busy.Store(false)
}

// sawEnd raises the known end of the partition to end.
func (p *partitionLag) sawEnd(end int64) {
	for {
		old := p.end.Load()
		if end <= old || p.end.CompareAndSwap(old, end) {
			return
		}
	}
}

// lagTable holds the partitions a Transport's consumers read. It lives
// beside the Transport (lagTables), keyed weakly so that it goes when the
// Transport does.
type lagTable struct {
	mu    sync.Mutex
	parts map[*partitionLag]struct{}
}

var lagTables sync.Map // weak.Pointer[Transport] → *lagTable

func lagTableOf(t *Transport) *lagTable {
	key := weak.Make(t)
	if v, ok := lagTables.Load(key); ok {
		return v.(*lagTable)
	}
	v, loaded := lagTables.LoadOrStore(key, &lagTable{parts: map[*partitionLag]struct{}{}})
	if !loaded {
		runtime.AddCleanup(t, func(k weak.Pointer[Transport]) { lagTables.Delete(k) }, key)
	}
	return v.(*lagTable)
}

// trackLag starts tracking a partition positioned at pa.Offset.
func (t *Transport) trackLag(topic string, pa kafka.PartitionAssignment) *partitionLag {
	p := &partitionLag{topic: topic, partition: pa.ID}
	p.next.Store(-1)
	p.end.Store(-1)
	if pa.Offset >= 0 {
		p.next.Store(pa.Offset)
	}
	tab := lagTableOf(t)
	tab.mu.Lock()
	tab.parts[p] = struct{}{}
	tab.mu.Unlock()
	return p
}

func (t *Transport) untrackLag(p *partitionLag) {
	tab := lagTableOf(t)
	tab.mu.Lock()
	delete(tab.parts, p)
	tab.mu.Unlock()
}

// watchLag asks the broker for the end of the partition every LagRefresh
// while one record stays in the handler, until the returned stop is
// called. r has returned that record and no other since, so its ReadLag
// counts from the offset after it.
func (t *Transport) watchLag(ctx context.Context, r *kafka.Reader, p *partitionLag) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(LagRefresh)
		defer tick.Stop()
		last := int64(-1)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			next := p.next.Load()
			if !p.busy.Load() || next != last {
				last = next // moved since the last tick, or idle: the fetches keep the end fresh
				continue
			}
			rctx, rcancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
			lag, err := r.ReadLag(rctx)
			rcancel()
			if err == nil && p.busy.Load() && p.next.Load() == next {
				p.sawEnd(next + 1 + lag)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
