package metrics

import "slices"

// Metric describes one truc_ metric family this package exports: the
// table behind the list in the package documentation, which tests,
// dashboards and alert rules are checked against.
type Metric struct {
	Name   string
	Type   string   // "counter", "gauge" or "histogram"
	Labels []string // sorted
	// Node is where it is exported: "axis", "edge" or "both".
	Node string
}

// Where a metric is exported.
const (
	NodeAxis = "axis"
	NodeEdge = "edge"
	NodeBoth = "both"
)

var catalog = []Metric{
	{"truc_axis_packages_total", "counter", []string{"outcome", "type"}, NodeAxis},
	{"truc_axis_rejections_total", "counter", []string{"reason"}, NodeAxis},
	{"truc_axis_deliveries_total", "counter", []string{"edge", "kind"}, NodeAxis},
	{"truc_axis_dead_letters_total", "counter", nil, NodeAxis},
	{"truc_axis_receipts_total", "counter", nil, NodeAxis},
	{"truc_axis_checkpoint_size", "gauge", nil, NodeAxis},
	{"truc_axis_receipt_batch_seconds", "histogram", nil, NodeAxis},
	{"truc_axis_last_accepted_timestamp_seconds", "gauge", nil, NodeAxis},
	{"truc_axis_accept_seconds", "histogram", []string{"type"}, NodeAxis},
	{"truc_axis_delivery_seconds", "histogram", []string{"type"}, NodeAxis},
	{"truc_axis_status_seconds", "histogram", []string{"status"}, NodeAxis},
	{"truc_axis_routes_unacked", "gauge", []string{"edge"}, NodeAxis},
	{"truc_axis_unacked_oldest_seconds", "gauge", []string{"edge"}, NodeAxis},
	{"truc_log_size", "gauge", nil, NodeAxis},
	{"truc_log_checkpoint_size", "gauge", nil, NodeAxis},
	{"truc_log_checkpoint_age_seconds", "gauge", nil, NodeAxis},

	{"truc_edge_submitted_total", "counter", []string{"type"}, NodeEdge},
	{"truc_edge_published_total", "counter", nil, NodeEdge},
	{"truc_edge_publish_seconds", "histogram", nil, NodeEdge},
	{"truc_edge_received_total", "counter", []string{"duplicate", "type"}, NodeEdge},
	{"truc_edge_refused_total", "counter", []string{"reason"}, NodeEdge},
	{"truc_edge_receipts_total", "counter", []string{"kind"}, NodeEdge},
	{"truc_edge_accept_seconds", "histogram", []string{"type"}, NodeEdge},
	{"truc_edge_outbox_unsettled", "gauge", nil, NodeEdge},
	{"truc_edge_outbox_oldest_unsettled_seconds", "gauge", nil, NodeEdge},
	{"truc_edge_inbox_untaken", "gauge", nil, NodeEdge},
	{"truc_edge_inbox_oldest_untaken_seconds", "gauge", nil, NodeEdge},
	{"truc_sign_seconds", "histogram", []string{"outcome"}, NodeEdge},

	{"truc_verify_seconds", "histogram", []string{"outcome"}, NodeBoth},
	{"truc_store_commits_total", "counter", nil, NodeBoth},
	{"truc_store_commit_requests_total", "counter", nil, NodeBoth},
	{"truc_store_commit_seconds", "histogram", nil, NodeBoth},
	{"truc_kafka_consumer_lag", "gauge", []string{"partition", "topic"}, NodeBoth},
	{"truc_cert_not_after_timestamp_seconds", "gauge", []string{"role", "serial", "subject"}, NodeBoth},
	{"truc_crl_next_update_timestamp_seconds", "gauge", []string{"issuer"}, NodeBoth},
	{"truc_crl_this_update_timestamp_seconds", "gauge", []string{"issuer"}, NodeBoth},
	{"truc_build_info", "gauge", []string{"goversion", "version"}, NodeBoth},
}

// Catalog returns every truc_ metric family the package exports, as the
// package documentation lists them. The caller may modify the result.
func Catalog() []Metric {
	out := slices.Clone(catalog)
	for i := range out {
		out[i].Labels = slices.Clone(out[i].Labels)
	}
	return out
}
