package bus

import (
	"context"
	"errors"
	"time"
)

// ErrClosed is returned by Publish and Consume once the Transport is closed.
var ErrClosed = errors.New("bus: transport closed")

// Transport moves Messages between processes through named topics. It is
// the whole contract the bus needs from a message broker; every
// implementation passes bustest.TestTransport. All methods are safe for
// concurrent use.
//
// Topics are created outside the Transport (by the axis at start-up and when
// an edge is onboarded): Publish and Consume never create one, and fail
// with an error when the topic does not exist.
type Transport interface {
	// Publish validates every message (Message.Validate) and writes them
	// to topic. It returns nil only once every message has been durably
	// accepted by the broker: written to every in-sync replica, so that a
	// broker crash after Publish returned loses none of them. If any
	// message is invalid Publish writes nothing and returns its
	// *MessageError (wrapped, with the message's index).
	//
	// Messages with the same Key land in the same partition and keep their
	// relative order when they are given in one call, or in calls that
	// each returned nil before the next began. Calls running at the same
	// time are not ordered with each other.
	//
	// On any other error some of the messages may have been written and
	// others not. The caller retries the whole call; the retry may write a
	// message a second time, and after messages that were written in the
	// meantime. Consumers therefore deduplicate (by SHA-256 and message ID)
	// and never rely on a retried message keeping its place.
	//
	// Publish returns an error wrapping ctx's error if ctx ends first (the
	// messages may still be written, so their Package bytes must not be
	// modified afterwards) and ErrClosed after Close.
	Publish(ctx context.Context, topic string, msgs ...Message) error

	// Consume joins consumer group group on topic and calls handle for
	// every record of the partitions the group gives this consumer, until
	// ctx is done or the Transport is closed.
	//
	// Within a partition handle is called one record at a time, in offset
	// order; different partitions are handled concurrently, so handle must
	// be safe for concurrent use. Each consumer in a group owns a share of
	// the partitions; when members join or leave, partitions move (after
	// the handlers running on them have returned).
	//
	// A record counts as handled when handle returns nil for it. The
	// group's position in a partition is committed only up to a record
	// whose handler returned nil, and never past one that has not: a
	// crash, a kill -9 or a rebalance replays at most the records after the
	// last commit (at-least-once). Commits are batched; a clean stop (ctx
	// done, Close, partition revoked) commits everything handled first.
	//
	// When handle returns an error the record is not skipped: its partition
	// stops, and the same record is handed to handle again after a back-off
	// (growing to a bound set by the implementation), with Delivery.Attempt
	// counting up. The bus above decides when a record is hopeless: it
	// dead-letters it (see DeadLetter) and returns nil. Other partitions go
	// on meanwhile.
	//
	// A record that cannot be decoded into a valid Message (missing or bad
	// headers, a value whose SHA-256 does not match) is still delivered, in
	// its place, with Delivery.Err set: the Transport never drops or skips
	// a record on its own. The handler typically publishes DeadLetter(d,
	// d.Err) to the dead-letter topic and returns nil.
	//
	// The ctx passed to handle is done when Consume is stopping or the
	// partition is being revoked; a handler that returns nil anyway still
	// counts as done and is committed. A handler that ignores it holds up
	// the stop or the rebalance until it returns.
	//
	// Consume returns nil when ctx is done, ErrClosed when the Transport is
	// closed, and an error at once when the topic does not exist, the
	// group name is empty, or the broker refuses access. Transient broker
	// and network errors are retried inside Consume, not returned.
	Consume(ctx context.Context, topic, group string, handle Handler) error

	// Close stops every Consume (each commits what it handled and returns
	// ErrClosed), waits for them, and releases connections. Publish calls
	// in flight end with an error; later calls return ErrClosed. Close is
	// idempotent.
	Close() error
}

// Handler handles one delivered record. See Transport.Consume.
type Handler func(ctx context.Context, d Delivery) error

// Delivery is one record handed to a Handler.
type Delivery struct {
	// Message is the decoded message. When Err is set it holds what could
	// be decoded: Package is always the exact record value, SHA256 its
	// SHA-256.
	Message Message
	// Err is nil for a valid message, else a *MessageError saying why the
	// record is not one.
	Err error
	// Topic, Partition and Offset say where the record was read.
	Topic     string
	Partition int
	Offset    int64
	// Time is the record's timestamp as the broker reports it.
	Time time.Time
	// Attempt is 1 the first time this consumer hands the record to the
	// handler and counts up each time the handler failed and it is handed
	// again. It restarts at 1 in another consumer or after a restart.
	Attempt int
}
