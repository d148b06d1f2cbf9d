package directory

// Red-team findings on the admin API (see the review report). Each test
// shows one defect and fails until it is fixed.

import (
	"crypto/x509"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/signing"
)

// TestRedteamOnboardMoveKeepsOldSeal: onboarding an edge with an agency
// that another edge serves moves the agency, and adds the new seal to its
// binding, but leaves the old edge's seal bound: the edge the agency left
// can still sign letters as it, and the axis (which checks the signer
// against the binding only) accepts them. Moving an agency must end the old
// edge's right to sign for it.
func TestRedteamOnboardMoveKeepsOldSeal(t *testing.T) {
	w := newWorld(t)
	d, _ := w.openSeeded(t, Config{})
	h := newAdmin(t, d, nil)
	const moved = "000.00.00.H53" // served by tayninh, bound to tayninh's seal
	if err := d.CheckSigner(moved, []*x509.Certificate{w.seals["tayninh"]}, w.pki.Now); err != nil {
		t.Fatalf("precondition: tayninh's seal does not sign for %s: %v", moved, err)
	}
	rec := do(t, h, "POST", "/admin/v1/onboard", adminToken,
		onboardBody(w, "hanoi", `{"organ_id":"`+moved+`","name":"UBND tỉnh Tây Ninh"}`))
	if rec.Code != http.StatusOK {
		t.Fatalf("onboard: %d %s", rec.Code, rec.Body)
	}
	if a, _ := d.Agency(moved); a.Edge != "hanoi" {
		t.Fatalf("agency %s is served by %q after the onboarding, want hanoi", moved, a.Edge)
	}
	if err := d.CheckSigner(moved, []*x509.Certificate{w.seals["tayninh"]}, w.pki.Now); err == nil {
		b, _ := d.Binding(moved)
		t.Errorf("after %s moved to edge hanoi, the seal of edge tayninh still signs for it (binding %v)", moved, b.Certificates)
	}
	if err := d.CheckSigner(moved, []*x509.Certificate{w.seals["hanoi"]}, w.pki.Now); err != nil {
		t.Errorf("the new edge's seal does not sign for %s: %v", moved, err)
	}
}

// TestRedteamOnboardLostUpdate: the onboarding reads each agency's binding
// before it takes the directory's writer lock, and then puts the binding
// it computed, replacing whatever is there. A binding change applied in
// between (another admin adding a certificate during a key rollover) is
// silently undone.
func TestRedteamOnboardLostUpdate(t *testing.T) {
	w := newWorld(t)
	d, _ := w.openSeeded(t, Config{})
	h := newAdmin(t, d, nil)
	const organ = "000.00.00.G22" // bound to the PKI's leaf
	added := signing.Fingerprint(w.seals["btc"])

	d.writeMu.Lock() // another change is being applied
	done := make(chan int)
	go func() {
		rec := do(t, h, "POST", "/admin/v1/onboard", adminToken,
			onboardBody(w, "hanoi", `{"organ_id":"`+organ+`","name":"Văn phòng Chính phủ"}`))
		done <- rec.Code
	}()
	waitBlocked(t, "(*AdminHandler).onboard")
	// The other change: a second certificate bound to G22, applied as
	// ApplyWith applies (the writer lock is held here).
	b, _ := d.Binding(organ)
	b.Certificates = append(b.Certificates, added)
	tx, err := d.prepare([]Change{{Op: OpPutBinding, Binding: &b}})
	if err != nil {
		d.writeMu.Unlock()
		t.Fatal(err)
	}
	d.mu.Lock()
	tx.commit(d.st)
	d.version++
	d.remember(VersionedChange{Version: d.version, Changes: tx.changes})
	d.mu.Unlock()
	d.writeMu.Unlock()

	if code := <-done; code != http.StatusOK {
		t.Fatalf("onboard: %d", code)
	}
	got, _ := d.Binding(organ)
	if !slices.Contains(got.Certificates, added) {
		t.Errorf("the certificate bound to %s while the onboarding ran was dropped by it: binding %v, want it to hold %s", organ, got.Certificates, added)
	}
}

// waitBlocked waits until a goroutine whose stack holds fn is blocked on a
// mutex.
func waitBlocked(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, fn) && strings.Contains(g, "sync.(*Mutex).Lock") {
				return
			}
		}
	}
	t.Fatalf("no goroutine in %s blocked on a mutex", fn)
}
