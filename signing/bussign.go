package signing

import (
	"context"
	"fmt"

	"truc.vn/truc/bus"
)

// SealSigner signs packages with an edge's organisation seal key for the
// agencies the edge serves. It implements bus.PackageSigner.
//
// It does not check that the seal certificate is bound to the OrganId in
// the directory: the axis and every recipient check that, and a package
// signed with an unbound certificate is rejected there with
// signer-not-bound.
type SealSigner struct {
	signer *Signer
	may    func(organID string) bool
	opts   SignOptions
}

var _ bus.PackageSigner = (*SealSigner)(nil)

// NewSealSigner returns a SealSigner over s. may, if not nil, says which
// OrganIds the edge may sign for; others are refused. Existing signatures
// (placeholders, legacy QCVN ones) are replaced.
func NewSealSigner(s *Signer, may func(organID string) bool) *SealSigner {
	return &SealSigner{signer: s, may: may, opts: SignOptions{Resign: true}}
}

// Sign signs pkg for organID.
func (s *SealSigner) Sign(_ context.Context, organID string, pkg []byte) ([]byte, error) {
	if s.may != nil && !s.may(organID) {
		return nil, fmt.Errorf("signing: this edge holds no seal key for %s", organID)
	}
	return s.signer.Sign(pkg, s.opts)
}
