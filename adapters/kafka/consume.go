package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

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
		d := delivery(m)
		for attempt := 1; ; attempt++ {
			d.Attempt = attempt
			err := handle(ctx, d)
			if err == nil {
				cm.handled(pa.ID, m.Offset+1)
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
