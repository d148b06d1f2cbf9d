// Package metrics is truc's Prometheus instrumentation and its operations
// endpoints. The axis and the edges are observed through the hooks of
// bus.AxisConfig and bus.EdgeConfig (NewAxis(reg).Hooks(),
// NewEdge(reg).Hooks()); the store and the transparency log are read at
// scrape time through functions the caller passes (NewStoreCollector,
// NewLogCollector); Ops serves /healthz, /readyz and /metrics. No other
// package imports Prometheus.
//
// Wiring, in cmd/truc:
//
//	reg := metrics.NewRegistry(version)
//	cfg.Hooks = metrics.NewAxis(reg).Hooks()
//	reg.MustRegister(metrics.NewStoreCollector(func() (int64, int64) {
//		s := store.CommitStats()
//		return s.Commits, s.Requests
//	}))
//	ops := metrics.Ops{Registry: reg, Ready: ready, Logger: log}.Handler()
//	for _, p := range []string{metrics.PathHealthz, metrics.PathReadyz, metrics.PathMetrics} {
//		mux.Handle(p, ops)
//	}
//
// # Metrics
//
// Axis (NewAxis):
//
//	truc_axis_packages_total{type,outcome}      counter  packages handled on the submit topic; outcome is
//	                                                     accepted, rejected or duplicate (seen before: its
//	                                                     receipt was sent again)
//	truc_axis_rejections_total{reason}          counter  rejections by reason code (bus Reject* and signing
//	                                                     Reason* codes)
//	truc_axis_deliveries_total{edge,kind}       counter  publications to an edge's inbox; kind is first or
//	                                                     redelivery (no ack within RedeliverAfter, or a replay)
//	truc_axis_dead_letters_total                counter  records sent to the dead-letter topic
//	truc_axis_receipts_total                    counter  receipts sent once a signed checkpoint covered them
//	truc_axis_checkpoint_size                   gauge    tree size of the latest checkpoint receipts were sent
//	                                                     under (moves only when receipts go out)
//	truc_axis_receipt_batch_seconds             histogram  signing a checkpoint and sending its receipts,
//	                                                     per batch
//	truc_axis_last_accepted_timestamp_seconds   gauge    Unix time of the latest accepted package, 0 before
//	                                                     the first (for "no traffic" alerts)
//
// Edge (NewEdge):
//
//	truc_edge_submitted_total{type}             counter  packages queued in the outbox from the DMS
//	truc_edge_published_total                   counter  outbox entries published to the submit topic,
//	                                                     resends included
//	truc_edge_publish_seconds                   histogram  publishing one batch and marking it sent
//	truc_edge_received_total{type,duplicate}    counter  packages arrived on the inbox topic; duplicate is
//	                                                     "true" when the edge already had it
//	truc_edge_refused_total{reason}             counter  incoming packages refused with a rejection notice
//	truc_edge_receipts_total{kind}              counter  verified axis receipts, by event kind
//	                                                     (submission-accepted, submission-rejected,
//	                                                     delivered, status, rejection-notice)
//
// Read at scrape time:
//
//	truc_store_commits_total                    counter  read-write transactions committed since the
//	                                                     store opened (NewStoreCollector)
//	truc_store_commit_requests_total            counter  write requests they committed; the ratio of the
//	                                                     two is the mean batch size
//	truc_log_size                               gauge    leaves in the transparency log (NewLogCollector)
//	truc_log_checkpoint_size                    gauge    leaves covered by the latest signed checkpoint
//	truc_log_checkpoint_age_seconds             gauge    seconds since that checkpoint was signed; absent
//	                                                     while there is none
//
// Process (NewRegistry):
//
//	truc_build_info{version,goversion}          gauge    always 1
//	go_*, process_*                                      the client library's Go runtime and process
//	                                                     collectors
//	promhttp_metric_handler_*                            scrapes served and failed (added by Ops)
//
// # Label values
//
// type is a bus.Type (document, status, receipt, rejection, dead-letter,
// ack) and kind an event kind or first/redelivery; anything else is
// counted as "other". A reason label takes the known bus and signing
// reason codes, then other well-formed codes ([a-z][a-z0-9-]*, at most 64
// bytes) as they first occur until it has MaxLabelValues (64) values;
// later newcomers and malformed values are counted as "other". So a
// verifier that invents codes, or a bug that puts a message in the reason,
// cannot grow the series without bound. edge is not capped: the axis
// reports only edges of its directory, which are a bounded, administered
// set (invalid UTF-8, which the client library would panic on, is counted
// as "other").
//
// # What it guarantees
//
//   - Hooks are safe for concurrent use, do no I/O and do not allocate
//     once a label value has been seen: each is one to three counter
//     updates under client_golang's short in-memory locks (0.05–0.25 µs,
//     see BENCHMARKS.md).
//   - Nothing registers with prometheus.DefaultRegisterer: NewRegistry
//     returns a fresh registry.
//   - /readyz never shows more than the first line of Ready's error, cut to
//     256 bytes; panics and stacks stay in the log.
//
// # Caveats
//
//   - Counters start at zero at every process start; use rate() and
//     increase(), which handle resets.
//   - The dead-letter counter has no reason label: the axis reports the
//     cause as free text, which is logged, not labelled.
//   - truc_axis_checkpoint_size follows receipts; the log's own view is
//     truc_log_checkpoint_size.
//   - NewAxis and NewEdge panic when their metrics are already registered
//     with reg: a process runs one axis or one edge per registry.
package metrics
