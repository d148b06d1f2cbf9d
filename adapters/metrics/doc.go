// Package metrics is truc's Prometheus instrumentation and its operations
// endpoints. The axis and the edges are observed through the hooks of
// bus.AxisConfig and bus.EdgeConfig (NewAxis(reg).Hooks(),
// NewEdge(reg).Hooks()) and through decorators around the bus.Verifier and
// bus.PackageSigner they use (TimeVerifier, TimeSigner); the store, the
// transparency log, the work queues, the Kafka consumers and the trust
// material are read at scrape time through functions or small interfaces
// the caller passes (NewStoreStatsCollector, NewLogCollector,
// NewAxisPendingCollector, NewEdgePendingCollector,
// NewConsumerLagCollector, NewTrustCollector); Ops serves /healthz,
// /readyz and /metrics. No other package imports Prometheus. Catalog
// returns the table of every metric below.
//
// Wiring, in cmd/truc (metrics_wiring.go does it for the axis and edges):
//
//	reg := metrics.NewRegistry(version)
//	cfg.Hooks = metrics.NewAxis(reg).Hooks()
//	verifier = metrics.TimeVerifier(reg, verifier)
//	reg.MustRegister(metrics.NewStoreStatsCollector(stats), ...)
//	ops := metrics.Ops{Registry: reg, Ready: ready, Logger: log}.Handler()
//	for _, p := range []string{metrics.PathHealthz, metrics.PathReadyz, metrics.PathMetrics} {
//		mux.Handle(p, ops)
//	}
//
// # Metrics
//
// Durations are in seconds and times in Unix seconds. A histogram named
// x_seconds gives x_seconds_bucket{le}, x_seconds_sum and x_seconds_count.
//
// Axis (NewAxis):
//
//	truc_axis_packages_total{outcome,type}      counter    packages handled on the submit topic; outcome is
//	                                                       accepted, rejected or duplicate (seen before: its
//	                                                       receipt was sent again)
//	truc_axis_rejections_total{reason}          counter    rejections by reason code (bus Reject* and signing
//	                                                       Reason* codes)
//	truc_axis_deliveries_total{edge,kind}       counter    publications to an edge's inbox; kind is first or
//	                                                       redelivery (no ack within RedeliverAfter, or a replay)
//	truc_axis_dead_letters_total                counter    records sent to the dead-letter topic
//	truc_axis_receipts_total                    counter    receipts sent once a signed checkpoint covered them
//	truc_axis_checkpoint_size                   gauge      tree size of the latest checkpoint receipts were sent
//	                                                       under (moves only when receipts go out)
//	truc_axis_receipt_batch_seconds             histogram  signing a checkpoint and sending its receipts,
//	                                                       per batch
//	truc_axis_last_accepted_timestamp_seconds   gauge      time of the latest accepted package, 0 before the
//	                                                       first (for "no traffic" alerts)
//	truc_axis_accept_seconds{type}              histogram  submit → axis: from the record's timestamp (the
//	                                                       sending edge published it; its clock) to the axis
//	                                                       recording the package accepted
//	truc_axis_delivery_seconds{type}            histogram  axis → delivered: from recording a package to its
//	                                                       first publish to a recipient edge's inbox, per route
//	                                                       (type rejection: a notice forwarded to the sender)
//	truc_axis_status_seconds{status}            histogram  delivered → status: from the latest publish of a
//	                                                       document to a recipient's edge to the axis recording
//	                                                       that recipient's status about it; status is 01–06,
//	                                                       15 or 16 (01: arrived, 03: accepted for handling)
//
// Axis, read at scrape time:
//
//	truc_axis_routes_unacked{edge}              gauge      routes (a package for one recipient edge) not yet
//	                                                       acknowledged by the edge: pending or delivered, with
//	                                                       the package still kept (NewAxisPendingCollector)
//	truc_axis_unacked_oldest_seconds{edge}      gauge      seconds since the axis recorded the package of the
//	                                                       oldest of them; 0 when there is none
//	truc_log_size                               gauge      leaves in the transparency log (NewLogCollector)
//	truc_log_checkpoint_size                    gauge      leaves covered by the latest signed checkpoint
//	truc_log_checkpoint_age_seconds             gauge      seconds since that checkpoint was signed; absent
//	                                                       while there is none
//
// Edge (NewEdge):
//
//	truc_edge_submitted_total{type}             counter    packages queued in the outbox from the DMS
//	truc_edge_published_total                   counter    outbox entries published to the submit topic,
//	                                                       resends included
//	truc_edge_publish_seconds                   histogram  publishing one batch and marking it sent
//	truc_edge_received_total{duplicate,type}    counter    packages arrived on the inbox topic; duplicate is
//	                                                       "true" when the edge already had it
//	truc_edge_refused_total{reason}             counter    incoming packages refused with a rejection notice
//	truc_edge_receipts_total{kind}              counter    verified axis receipts, by event kind
//	                                                       (submission-accepted, submission-rejected,
//	                                                       delivered, status, rejection-notice)
//	truc_edge_accept_seconds{type}              histogram  submit → axis, as the sender's edge sees it: from the
//	                                                       DMS's submission to the arrival of the receipt that
//	                                                       accepted it (the first one only)
//	truc_sign_seconds{outcome}                  histogram  signing one package with the seal key; outcome ok or
//	                                                       failed (TimeSigner)
//
// Edge, read at scrape time (NewEdgePendingCollector):
//
//	truc_edge_outbox_unsettled                  gauge      outbox entries (documents, statuses) without the
//	                                                       axis's final receipt
//	truc_edge_outbox_oldest_unsettled_seconds   gauge      seconds since the oldest of them was submitted; 0
//	                                                       when there is none
//	truc_edge_inbox_untaken                     gauge      inbox items no DMS has taken, among the newest
//	                                                       InboxWindow
//	truc_edge_inbox_oldest_untaken_seconds      gauge      seconds since the oldest of them arrived; 0 when
//	                                                       there is none
//
// Axis and edge:
//
//	truc_verify_seconds{outcome}                histogram  verifying one package (signature, chain, CRLs,
//	                                                       binding); outcome ok or failed (TimeVerifier)
//	truc_store_commits_total                    counter    read-write transactions committed since the
//	                                                       store opened (NewStoreStatsCollector)
//	truc_store_commit_requests_total            counter    write requests they committed; the ratio of the
//	                                                       two is the mean batch size
//	truc_store_commit_seconds                   histogram  one commit, from the start of its transaction to
//	                                                       the end of its fsync
//	truc_kafka_consumer_lag{partition,topic}    gauge      records of a partition this process consumes and
//	                                                       has not handled yet (NewConsumerLagCollector)
//	truc_cert_not_after_timestamp_seconds{role,serial,subject}
//	                                            gauge      notAfter of the node's seal certificate (role seal)
//	                                                       and of its trust anchors and intermediate CAs (root,
//	                                                       intermediate) (NewTrustCollector)
//	truc_crl_next_update_timestamp_seconds{issuer}
//	                                            gauge      nextUpdate of the CRL held for each CA of the trust
//	                                                       configuration; 0 when none is held
//	truc_crl_this_update_timestamp_seconds{issuer}
//	                                            gauge      thisUpdate of that CRL; absent when none is held
//	truc_build_info{goversion,version}          gauge      always 1 (NewRegistry)
//
// Besides, NewRegistry adds the client library's Go runtime and process
// collectors (go_*, process_*), and Ops the scrapes it served and failed
// (promhttp_metric_handler_*).
//
// # Label values
//
// type is a bus.Type (document, status, receipt, rejection, dead-letter,
// ack), kind an event kind or first/redelivery, and status a recipient's
// status code; anything else is counted as "other". A reason label takes
// the known bus and signing reason codes, then other well-formed codes
// ([a-z][a-z0-9-]*, at most 64 bytes) as they first occur until it has
// MaxLabelValues (64) values; later newcomers and malformed values are
// counted as "other". So a verifier that invents codes, or a bug that puts
// a message in the reason, cannot grow the series without bound. edge is
// not capped: the axis reports only edges of its directory, which are a
// bounded, administered set (invalid UTF-8, which the client library would
// panic on, is counted as "other"). subject and issuer are a certificate's
// common name (else its whole subject), cut to 128 bytes.
//
// The series a query is likely to name (every known type, outcome, reason
// and status code) exist from the start at 0, so that the first event is
// an increase and not a new series.
//
// # What it guarantees
//
//   - Hooks are safe for concurrent use, do no I/O and do not allocate
//     once a label value has been seen: each is one to three counter or
//     histogram updates under client_golang's short in-memory locks
//     (0.05–0.25 µs, see BENCHMARKS.md). The bus does the one extra read
//     the Answered and Settled hooks need, only when they are set.
//   - Nothing registers with prometheus.DefaultRegisterer: NewRegistry
//     returns a fresh registry.
//   - A collector that cannot read its source (a closed store, a timeout)
//     makes the scrape carry the error for its own series only: promhttp
//     logs it, counts it in promhttp_metric_handler_errors_total and
//     serves every other metric.
//   - /readyz never shows more than the first line of Ready's error, cut to
//     256 bytes; panics and stacks stay in the log.
//
// # Caveats
//
//   - Counters start at zero at every process start; use rate() and
//     increase(), which handle resets.
//   - Latencies that span two nodes (truc_axis_accept_seconds) compare two
//     clocks; a negative difference counts as 0. Keep the nodes on NTP.
//   - truc_axis_status_seconds starts at the latest publish of the
//     document to the recipient's edge (Route.SentAt, as the ledger's
//     timeline shows "delivered"): after a redelivery it is shorter than
//     the time since the first delivery.
//   - The pending gauges are read from the store at every scrape, within
//     bounds: the axis reads at most PendingLimit routes, oldest first
//     (when more are pending, every edge's count is a lower bound, and an
//     edge with only recent ones may show none); the edge at most
//     PendingLimit outbox entries, and Unsettled stops once it loaded
//     boltstore.UnsettledBudget (64 MiB) of packages, so with a large
//     backlog of large letters truc_edge_outbox_unsettled saturates below
//     the real count; truc_edge_inbox_untaken looks only at the newest
//     InboxWindow items, so an item left untaken behind that many newer
//     ones is no longer counted. The gauges are meant for alerts
//     (anything pending for long), not for accounting: the dashboard's
//     aggregates count exactly.
//   - truc_kafka_consumer_lag is as fresh as the last fetch of the
//     partition; while a record is being retried the end of the partition
//     is asked of the broker at most every kafka.LagRefresh.
//   - A CA without a CRL reports truc_crl_next_update_timestamp_seconds 0,
//     including a configured CA that issues nothing: an alert on stale
//     CRLs fires for it, which is the safe side (verification would fail
//     closed for anything it issued).
//   - The dead-letter counter has no reason label: the axis reports the
//     cause as free text, which is logged, not labelled.
//   - truc_axis_checkpoint_size follows receipts; the log's own view is
//     truc_log_checkpoint_size.
//   - NewAxis, NewEdge, TimeSigner and TimeVerifier panic when their
//     metrics are already registered with reg: a process runs one axis or
//     one edge per registry.
package metrics
