package bus

import (
	"crypto/x509"
	"time"
)

// Agency is one organisation in the directory.
type Agency struct {
	// OrganID is its OrganId (QĐ 20/2020 code).
	OrganID string `json:"organ_id"`
	// Name is its official name, in Vietnamese.
	Name string `json:"name"`
	// Parent is the OrganId of the agency it belongs to, "" at the top.
	Parent string `json:"parent,omitempty"`
	// Edge is the ID of the edge that serves it.
	Edge string `json:"edge"`
	// Active is false for an agency that no longer sends or receives;
	// packages from or to it are rejected.
	Active bool `json:"active"`
}

// EdgeInfo is one edge node in the directory.
type EdgeInfo struct {
	// ID names the edge (ValidateEdgeID rules).
	ID string `json:"id"`
	// InboxTopic is the topic the axis publishes to for it.
	InboxTopic string `json:"inbox_topic"`
	// Certificates are the edge's seal certificates (leaf first is not
	// required): a rejection notice from the edge must be signed by the
	// key of one of them.
	Certificates []*x509.Certificate `json:"-"`
}

// Directory is the routing and identity data the bus reads: which edge
// serves an OrganId, which edges exist, and which certificates may sign for
// which OrganId. Reads are from memory and safe for concurrent use; the data
// may change between two calls (a directory is versioned and changes at
// runtime), so a caller that needs one consistent view reads once.
type Directory interface {
	// Agency returns the agency with organID.
	Agency(organID string) (Agency, bool)
	// Edge returns the edge with id.
	Edge(id string) (EdgeInfo, bool)
	// CheckSigner reports whether the certificate chain (signer first) may
	// sign for organID at time at. It returns nil or a *RejectError with
	// Reason RejectSignerNotBound.
	CheckSigner(organID string, chain []*x509.Certificate, at time.Time) error
	// Version is the directory version: it grows with every change.
	Version() int64
	// Agencies lists every agency, ordered by OrganID.
	Agencies() []Agency
}
