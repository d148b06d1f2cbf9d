package main

// The webhook check of issue #5, with real processes: the DMS receiver is
// down for a while, the edge is killed (-9) and restarted meanwhile,
// letters and statuses keep arriving; afterwards every package has
// arrived, in order per document, every repeat with the Delivery-Id and
// body of its first attempt. A receiver holding the wrong secret detects
// the mismatch, the delivery fails after max_attempts, shows up in GET
// /v1/webhooks/deliveries?state=failed, and a retry delivers it.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/webhook"
)

// hookHit is one request a hookReceiver got.
type hookHit struct {
	id     string
	body   []byte
	env    webhook.Envelope
	verr   error
	status int
}

// hookReceiver is a DMS webhook endpoint on a fixed address that can be
// taken down (connections refused) and brought up again.
type hookReceiver struct {
	t    *testing.T
	addr string

	mu        sync.Mutex
	secret    []byte
	srv       *http.Server
	hits      []hookHit
	firstBody map[string][]byte // Delivery-Id → body of its first request
	accepted  []string          // Delivery-Ids in the order of their first 2xx
	// loseAnswer: the receiver stores the delivery but answers 500 to its
	// first request, as if the answer were lost: the edge must repeat it.
	loseAnswer func(id string) bool
}

func newHookReceiver(t *testing.T, addr string, secret []byte) *hookReceiver {
	r := &hookReceiver{t: t, addr: addr, secret: secret, firstBody: map[string][]byte{}}
	t.Cleanup(r.down)
	return r
}

func (r *hookReceiver) up() {
	r.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment after down
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go srv.Serve(ln)
}

func (r *hookReceiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (r *hookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 32<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	h := hookHit{id: req.Header.Get(webhook.HeaderDeliveryID), body: body}
	h.verr = webhook.Verify(r.secret, req.Header, body, time.Now(), 0)
	if h.verr == nil {
		h.verr = json.Unmarshal(body, &h.env)
	}
	_, seen := r.firstBody[h.id]
	switch {
	case h.verr != nil:
		h.status = http.StatusUnauthorized
	case !seen && r.loseAnswer != nil && r.loseAnswer(h.id):
		h.status = http.StatusInternalServerError
	default:
		h.status = http.StatusOK
	}
	if h.verr == nil && !seen {
		r.firstBody[h.id] = body
	}
	if h.status == http.StatusOK && !slices.Contains(r.accepted, h.id) {
		r.accepted = append(r.accepted, h.id)
	}
	r.hits = append(r.hits, h)
	w.WriteHeader(h.status)
}

func (r *hookReceiver) snapshot() (hits []hookHit, accepted []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hits), slices.Clone(r.accepted)
}

func (r *hookReceiver) setSecret(s []byte) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

func TestWebhookDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: starts 4 processes")
	}
	w := startProcWorld(t, 2, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	vpcp, hanoi := w.m.Edges[0], w.m.Edges[1]
	h0, h1, h2 := "000.00.00.H26", "000.00.01.H26", "000.00.02.H26"

	// The DMS receivers, and hanoi's config with two subscriptions: the
	// DMS (both receivers' ports fixed before the edge learns them).
	base := freeBasePort(t, 2)
	secret, wrong, edgeSecretB := hookSecret(), hookSecret(), hookSecret()
	dmsRcv := newHookReceiver(t, "127.0.0.1:"+strconv.Itoa(base), secret)
	badRcv := newHookReceiver(t, "127.0.0.1:"+strconv.Itoa(base+1), wrong)
	badRcv.up()
	secrets := filepath.Join(w.dir, "secrets")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string][]byte{"dms.secret": secret, "b.secret": edgeSecretB} {
		if err := os.WriteFile(filepath.Join(secrets, name), append(s, '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := w.edges[hanoi.ID]
	p.stop()
	section := fmt.Sprintf(`
webhooks:
  concurrency: 4
  subscriptions:
    - name: dms
      url: http://%s/truc/hook
      secret_file: secrets/dms.secret
      organ_ids: [%s, %s]
      client: dms-%s
      max_attempts: 1000
      backoff: {base: 100ms, max: 1s}
      timeout: 5s
    - name: dms-b
      url: http://%s/truc/hook
      secret_file: secrets/b.secret
      organ_ids: [%s]
      client: dms-%s
      max_attempts: 3
      backoff: {base: 50ms, max: 100ms}
      timeout: 5s
`, dmsRcv.addr, h0, h1, hanoi.ID, badRcv.addr, h2, hanoi.ID)
	cfgPath := filepath.Join(w.dir, hanoi.Config)
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(section); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := runTruc(t, "edge", "--config", cfgPath, "-check-config"); err != nil {
		t.Fatalf("edge -check-config with the webhooks section: %v\n%s", err, out)
	}
	w.restart(p)

	sendAPI, hanoiAPI := w.api[vpcp.ID], w.api[hanoi.ID]
	var letters []restapi.Submitted
	send := func(number string, to ...string) {
		t.Helper()
		s, err := sendAPI.Submit(ctx, letter(t, vpcp.OrganID, to, number, nil, nil), "wh-"+number)
		if err != nil {
			t.Fatalf("letter %s: %v", number, err)
		}
		letters = append(letters, s)
	}
	// H1: a letter from hanoi to vpcp; vpcp's DMS answers it with
	// statuses, which arrive in hanoi's inbox under H1's key.
	if _, err := hanoiAPI.Submit(ctx, letter(t, h0, []string{vpcp.OrganID}, "H1", nil, nil), "wh-H1"); err != nil {
		t.Fatal(err)
	}
	var h1Item restapi.Item
	eventually(t, 30*time.Second, "H1 in vpcp's inbox", func() (bool, string) {
		page, err := sendAPI.Inbox(ctx, restapi.InboxQuery{})
		if err != nil {
			return false, err.Error()
		}
		for _, it := range page.Items {
			if it.Type == "document" && it.Sender == h0 {
				h1Item = it
				return true, ""
			}
		}
		return false, fmt.Sprint(len(page.Items), " items")
	})
	status := func(code string) {
		t.Helper()
		if _, err := sendAPI.PostStatus(ctx, h1Item.ID, restapi.StatusRequest{Code: code, Description: "xử lý " + code, Staff: "Văn thư"}); err != nil {
			t.Fatalf("status %s: %v", code, err)
		}
	}
	// hanoiInbox lists hanoi's inbox (every item: the token is for all
	// three agencies).
	hanoiInbox := func() []restapi.Item {
		page, err := hanoiAPI.Inbox(ctx, restapi.InboxQuery{Limit: 1000})
		if err != nil {
			return nil
		}
		return page.Items
	}
	waitInbox := func(n int) {
		t.Helper()
		eventually(t, 60*time.Second, fmt.Sprintf("%d items in hanoi's inbox", n), func() (bool, string) {
			got := len(hanoiInbox())
			return got >= n, fmt.Sprint(got)
		})
	}

	// Phase 1, the DMS receiver down: letters and statuses arrive, their
	// deliveries fail and wait.
	send("W1", h0, h1, h2)
	send("W2", h0)
	if _, err := sendAPI.Ack(ctx, h1Item.ID); err != nil { // 01
		t.Fatal(err)
	}
	status("03")
	waitInbox(4)
	eventually(t, 30*time.Second, "failed attempts while the receiver is down", func() (bool, string) {
		page, err := hanoiAPI.WebhookDeliveries(ctx, restapi.WebhookDeliveryQuery{State: restapi.WebhookPending})
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, d := range page.Deliveries {
			if d.Attempts > 0 && d.LastError != "" {
				n++
			}
		}
		return n >= 3, fmt.Sprintf("%d of %d pending with a failed attempt", n, len(page.Deliveries))
	})

	// Phase 2: kill -9 the edge; letters and statuses keep coming.
	p.kill9()
	send("W3", h1)
	status("04")
	w.restart(p)

	// Phase 3: more arrive after the restart; then the receiver comes
	// up, losing the first answer to every other delivery.
	send("W4", h0, h1)
	status("05")
	status("06")
	waitInbox(9)
	time.Sleep(500 * time.Millisecond) // a few more failed attempts
	if hits, _ := dmsRcv.snapshot(); len(hits) != 0 {
		t.Fatalf("the receiver was down but got %d requests", len(hits))
	}
	n := 0
	dmsRcv.mu.Lock()
	dmsRcv.loseAnswer = func(string) bool { n++; return n%2 == 1 }
	dmsRcv.mu.Unlock()
	dmsRcv.up()

	items := hanoiInbox()
	var want []string
	for _, it := range items {
		if slices.Contains(it.Recipients, h0) || slices.Contains(it.Recipients, h1) {
			want = append(want, webhook.DeliveryID("dms", it.ID))
		}
	}
	if len(want) != 9 {
		t.Fatalf("%d items for the subscription's agencies, want 9 (4 letters, 01 and 03–06): %+v", len(want), items)
	}
	eventually(t, 60*time.Second, "every item delivered to the DMS", func() (bool, string) {
		_, acc := dmsRcv.snapshot()
		var missing []string
		for _, id := range want {
			if !slices.Contains(acc, id) {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0, fmt.Sprint("missing ", missing)
	})
	hits, accepted := dmsRcv.snapshot()
	seqOf := map[string]uint64{}
	for _, it := range items {
		seqOf[webhook.DeliveryID("dms", it.ID)] = it.Seq
	}
	repeats := 0
	byID := map[string][]hookHit{}
	for _, h := range hits {
		if h.verr != nil {
			t.Errorf("delivery %s does not verify with the DMS secret: %v", h.id, h.verr)
			continue
		}
		if _, ok := seqOf[h.id]; !ok {
			t.Errorf("delivery %s is not for an inbox item of the subscription's agencies", h.id)
		}
		if h.env.DeliveryID != h.id {
			t.Errorf("envelope delivery_id %s under Delivery-Id %s", h.env.DeliveryID, h.id)
		}
		if sum := sha256.Sum256(h.env.Package); hex.EncodeToString(sum[:]) != h.env.Item.SHA256 {
			t.Errorf("delivery %s: the package does not hash to item.sha256", h.id)
		}
		if len(byID[h.id]) > 0 {
			repeats++
			if !bytes.Equal(h.body, byID[h.id][0].body) {
				t.Errorf("delivery %s: a repeat's body differs from the first attempt's", h.id)
			}
		}
		byID[h.id] = append(byID[h.id], h)
	}
	if repeats == 0 {
		t.Errorf("no repeat at all: the lost answers should have caused some")
	}
	t.Logf("the DMS got %d requests for %d deliveries (%d repeats)", len(hits), len(want), repeats)
	// In order per document: by the time of their first 2xx, deliveries
	// of one key follow the inbox order; H1's statuses come as sent.
	lastSeq := map[string]uint64{}
	var h1Codes []string
	for _, id := range accepted {
		env := byID[id][0].env
		if env.Item.Seq <= lastSeq[env.Item.Key] {
			t.Errorf("document %s: inbox item %d delivered after %d", env.Item.Key, env.Item.Seq, lastSeq[env.Item.Key])
		}
		lastSeq[env.Item.Key] = env.Item.Seq
		if env.Event == "status" {
			h1Codes = append(h1Codes, env.Item.Status)
		}
	}
	if want := []string{"01", "03", "04", "05", "06"}; !slices.Equal(h1Codes, want) {
		t.Errorf("H1's statuses reached the DMS as %v, want %v", h1Codes, want)
	}
	// Delivered letters were taken: vpcp sees 01 from the subscription's
	// agencies, and not yet from h2, whose DMS refuses the signature.
	for i, l := range letters {
		eventually(t, 30*time.Second, "01 for letter "+l.ID, func() (bool, string) {
			doc, err := sendAPI.Document(ctx, l.ID)
			if err != nil {
				return false, err.Error()
			}
			got := statusesBy(doc)
			for _, r := range doc.Recipients {
				if r != h2 && !slices.Contains(got[r], "01") {
					return false, fmt.Sprint(got)
				}
			}
			if i == 0 && slices.Contains(got[h2], "01") {
				t.Errorf("letter W1 was taken for %s before its DMS accepted it", h2)
			}
			return true, ""
		})
	}

	// The misconfigured DMS: every attempt refused as a signature
	// mismatch, failed after 3, listed as failed, retried once the DMS
	// has the right secret, same Delivery-Id.
	var failed restapi.WebhookDelivery
	eventually(t, 30*time.Second, "the dms-b delivery failed", func() (bool, string) {
		page, err := hanoiAPI.WebhookDeliveries(ctx, restapi.WebhookDeliveryQuery{State: restapi.WebhookFailed})
		if err != nil {
			return false, err.Error()
		}
		if len(page.Deliveries) != 1 {
			return false, fmt.Sprintf("%+v", page.Deliveries)
		}
		failed = page.Deliveries[0]
		return true, ""
	})
	if failed.Attempts != 3 || failed.State != restapi.WebhookFailed || !slices.Equal(failed.OrganIDs, []string{h2}) ||
		failed.ID != "dms-b."+failed.ItemID || failed.URL != "http://"+badRcv.addr+"/truc/hook" {
		t.Errorf("failed delivery %+v", failed)
	}
	badHits, _ := badRcv.snapshot()
	if len(badHits) < 3 { // a 4th if the kill cut the recording of one short
		t.Errorf("the misconfigured DMS got %d requests, want 3", len(badHits))
	}
	for _, h := range badHits {
		var ve *webhook.VerifyError
		if !errors.As(h.verr, &ve) || ve.Reason != webhook.ReasonSignatureMismatch || h.id != failed.ID {
			t.Errorf("the misconfigured DMS: %s checked as %v, want %s", h.id, h.verr, webhook.ReasonSignatureMismatch)
		}
	}
	badRcv.setSecret(edgeSecretB)
	retried, err := hanoiAPI.RetryWebhook(ctx, failed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if retried.ID != failed.ID || retried.State != restapi.WebhookPending || retried.Attempts != 0 {
		t.Errorf("after the retry: %+v", retried)
	}
	eventually(t, 30*time.Second, "the retried delivery delivered", func() (bool, string) {
		_, acc := badRcv.snapshot()
		return slices.Equal(acc, []string{failed.ID}), fmt.Sprint(acc)
	})
	eventually(t, 30*time.Second, "01 from "+h2, func() (bool, string) {
		doc, err := sendAPI.Document(ctx, letters[0].ID)
		if err != nil {
			return false, err.Error()
		}
		return slices.Contains(statusesBy(doc)[h2], "01"), fmt.Sprint(statusesBy(doc))
	})
	page, err := hanoiAPI.WebhookDeliveries(ctx, restapi.WebhookDeliveryQuery{State: restapi.WebhookFailed})
	if err != nil || len(page.Deliveries) != 0 {
		t.Errorf("failed deliveries after the retry: %+v, %v", page.Deliveries, err)
	}
	if _, err := hanoiAPI.RetryWebhook(ctx, failed.ID); err == nil {
		t.Errorf("a retry of a delivered delivery was accepted")
	}
}

// hookSecret returns a fresh 64-hex-digit secret.
func hookSecret() []byte {
	var b [32]byte
	rand.Read(b[:])
	return []byte(hex.EncodeToString(b[:]))
}

// runTruc runs the built binary with args and returns its output.
func runTruc(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(trucBinary(t), args...)
	return cmd.CombinedOutput()
}

// ---------------------------------------------------------------------------
// The webhooks: section of the edge config (no processes).

// webhookExample is the snippet for configs/edge.example.yaml.
const webhookExample = `
webhooks:
  concurrency: 4            # attempts in flight, all subscriptions together
  keep_delivered: 168h      # delivered deliveries stay listable this long
  subscriptions:
    - name: dms-hanoi
      url: https://dms.hanoi.gov.vn/truc/webhook
      secret_file: /etc/truc/webhook-dms-hanoi.secret   # or secret_env; at least 32 bytes
      organ_ids: [000.00.00.H26, 000.00.01.H26]
      client: dms-ubnd-hanoi    # the api.tokens entry that lists and retries these deliveries
      max_attempts: 30
      backoff: {base: 1s, max: 10m}
      timeout: 60s
      take_on_delivery: true    # a delivered document is taken: the edge sends 01
      ca_file: /etc/truc/dms-ca.pem
`

func decodeWebhooks(t *testing.T, text string) webhookSection {
	t.Helper()
	var f struct {
		Webhooks webhookSection `yaml:"webhooks"`
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("decoding:\n%s\n%v", text, err)
	}
	return f.Webhooks
}

func TestWebhookSectionValidate(t *testing.T) {
	s := decodeWebhooks(t, webhookExample)
	if errs := s.validate(); len(errs) != 0 {
		t.Fatalf("the example: %v", errs)
	}
	sub := s.Subscriptions[0]
	if sub.Backoff.Base != time.Second || sub.Backoff.Max != 10*time.Minute || sub.TakeOnDelivery == nil || !*sub.TakeOnDelivery {
		t.Errorf("decoded %+v", sub)
	}
	var none webhookSection
	if errs := none.validate(); len(errs) != 0 {
		t.Errorf("no section: %v", errs)
	}
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"settings without subscriptions", "webhooks:\n  concurrency: 2\n", "webhooks.subscriptions: at least one"},
		{"no secret", "webhooks:\n  subscriptions:\n    - {name: a, url: 'https://x/', organ_ids: [000.00.00.H26], client: c}\n",
			"webhooks.subscriptions[0]: exactly one of secret_file and secret_env"},
		{"two secrets", "webhooks:\n  subscriptions:\n    - {name: a, url: 'https://x/', secret_file: f, secret_env: E, organ_ids: [000.00.00.H26], client: c}\n",
			"webhooks.subscriptions[0]: exactly one of secret_file and secret_env"},
		{"bad url", "webhooks:\n  subscriptions:\n    - {name: a, url: 'x', secret_env: E, organ_ids: [000.00.00.H26], client: c}\n",
			"webhooks.subscriptions[0].url: an http or https URL"},
		{"bad backoff", "webhooks:\n  subscriptions:\n    - {name: a, url: 'https://x/', secret_env: E, organ_ids: [000.00.00.H26], client: c, backoff: {base: 1ms}}\n",
			"webhooks.subscriptions[0].backoff.base: at least 10ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := decodeWebhooks(t, tc.yaml)
			err := errors.Join(s.validate()...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("validate: %v\nwant %q", err, tc.want)
			}
		})
	}
	if err := func() error {
		var f struct {
			Webhooks webhookSection `yaml:"webhooks"`
		}
		dec := yaml.NewDecoder(strings.NewReader("webhooks:\n  subscriptions:\n    - {name: a, secret: inline}\n"))
		dec.KnownFields(true)
		return dec.Decode(&f)
	}(); err == nil {
		t.Errorf("an inline secret: is accepted")
	}
}

func TestWebhookSectionCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.secret")
	short := filepath.Join(dir, "short.secret")
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(good, []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	os.WriteFile(short, []byte("tooshort\n"), 0o600)
	os.WriteFile(ca, []byte("not a certificate"), 0o600)
	t.Setenv("TRUC_TEST_WEBHOOK_SECRET", strings.Repeat("cd", 32))
	api := restapi.Config{Tokens: []restapi.Token{{Name: "dms", OrganIDs: []string{"000.00.00.H26", "000.00.01.H26"}}}}
	no := false
	base := func() webhookSection {
		return webhookSection{Subscriptions: []webhookSubscription{{
			Name: "a", URL: "https://dms/x", SecretFile: good, OrganIDs: []string{"000.00.00.H26"}, Client: "dms",
		}}}
	}
	s := base()
	s.Subscriptions[0].TakeOnDelivery = &no
	cfg, err := s.check(api)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Subscriptions[0]; string(got.Secret) != strings.Repeat("ab", 32) || !got.KeepUntaken {
		t.Errorf("config %+v", got)
	}
	s = base()
	s.Subscriptions[0].SecretFile, s.Subscriptions[0].SecretEnv = "", "TRUC_TEST_WEBHOOK_SECRET"
	if cfg, err := s.check(api); err != nil || string(cfg.Subscriptions[0].Secret) != strings.Repeat("cd", 32) || cfg.Subscriptions[0].KeepUntaken {
		t.Errorf("secret from the environment: %v, %+v", err, cfg.Subscriptions)
	}
	for _, tc := range []struct {
		name   string
		change func(s *webhookSubscription)
		want   string
	}{
		{"unknown client", func(s *webhookSubscription) { s.Client = "other" }, `webhooks.subscriptions[0].client: "other" is not an api.tokens name`},
		{"organ outside the token", func(s *webhookSubscription) { s.OrganIDs = []string{"000.00.02.H26"} },
			`webhooks.subscriptions[0].organ_ids[0]: 000.00.02.H26 is not among the organ_ids of token "dms"`},
		{"short secret", func(s *webhookSubscription) { s.SecretFile = short }, "webhooks.subscriptions[0] (a): secret: 8 bytes, at least 32"},
		{"missing secret file", func(s *webhookSubscription) { s.SecretFile = filepath.Join(dir, "nope") }, "webhooks.subscriptions[0] (a): secret:"},
		{"unset variable", func(s *webhookSubscription) { s.SecretFile, s.SecretEnv = "", "TRUC_TEST_WEBHOOK_UNSET" },
			"webhooks.subscriptions[0] (a): secret: environment variable TRUC_TEST_WEBHOOK_UNSET is not set"},
		{"bad ca file", func(s *webhookSubscription) { s.CAFile = ca }, "webhooks.subscriptions[0].ca_file:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.change(&s.Subscriptions[0])
			if _, err := s.check(api); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("check: %v\nwant %q", err, tc.want)
			}
		})
	}
}

func TestWebhookPublicURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://dms.gov.vn/hook":              "https://dms.gov.vn/hook",
		"https://dms.gov.vn:8443/a/b?key=s3cr": "https://dms.gov.vn:8443/a/b",
		"http://[::1]:80/x":                    "http://[::1]:80/x",
	} {
		if got := publicURL(in); got != want {
			t.Errorf("publicURL(%q) = %q, want %q", in, got, want)
		}
	}
}
