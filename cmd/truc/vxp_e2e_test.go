package main

// The VXP-compatible API end to end: the built binary as separate
// processes (broker, axis, three edges with a vxp: section), DMS software
// played by the vxp Client (which signs exactly as SDKVXP 2.0.1) and by
// byte-exact replays of the SDK's recorded requests (spec Appendix A,
// adapters/vxp/testdata).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"truc.vn/truc/adapters/directory"
	"truc.vn/truc/adapters/vxp"
	"truc.vn/truc/edoc"
	"truc.vn/truc/edoc/edoctest"
)

// The DMS systems of the test, one per edge. The tayninh one is the
// system of the golden requests (adapters/vxp/testdata/README.md), so
// that they can be replayed unchanged.
type vxpTestSystem struct {
	ID, Secret      string
	Organs, Parents []string
}

const (
	vxpPrefix    = "/vxp"
	goldenSecret = "golden-secret-not-for-production-0001"
	// registered is the agency the golden registerAgency creates (under
	// 000.00.31.H53, which the demo world has with 32 agencies per edge).
	registered = "000.05.31.H53"
)

var vxpSystems = map[string]vxpTestSystem{
	"vpcp": {ID: "vxp.vpcp.01", Secret: "vpcp-dms-secret-0123456789abcdef",
		Organs: []string{"000.00.00.G22", "000.00.00.A80"}, Parents: []string{"000.00.00.G22"}},
	"hanoi": {ID: "vxp.hanoi.01", Secret: "hanoi-dms-secret-0123456789abcdef",
		Organs: []string{"000.00.00.H41", "000.00.00.H14", "000.00.00.G17", "28.22.H17"}, Parents: []string{"000.00.00.H26"}},
	"tayninh": {ID: "vxp.test.01", Secret: goldenSecret,
		Organs: []string{"000.00.01.H53", registered}, Parents: []string{"000.00.00.H53"}},
}

// sampleAgencies are the OrganIds the official samples name that the
// demo world lacks, onboarded at the axis onto the edge whose system acts
// for them.
var sampleAgencies = map[string][]string{
	"vpcp":  {"000.00.00.A80"},
	"hanoi": {"000.00.00.H41", "000.00.00.H14", "000.00.00.G17", "28.22.H17"},
}

// startVXPWorld is startProcWorld with a vxp: section added to the
// configs of the edges of vxpSystems before they start.
func startVXPWorld(t *testing.T, edges, agencies int) *procWorld {
	t.Helper()
	return startProcWorldWith(t, edges, agencies, func(dir string, m *devManifest) {
		for _, e := range m.Edges {
			if sys, ok := vxpSystems[e.ID]; ok {
				addVXPSection(t, filepath.Join(dir, e.Config), sys)
			}
		}
	})
}

// addVXPSection adds the system to the vxp: section of an edge config,
// its secret in a file beside it.
func addVXPSection(t *testing.T, path string, sys vxpTestSystem) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join("secrets", sys.ID+".secret")
	if err := os.MkdirAll(filepath.Join(filepath.Dir(path), "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), secret), []byte(sys.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg["vxp"] = map[string]any{
		"path_prefix": vxpPrefix,
		"systems": []any{map[string]any{
			"id": sys.ID, "secret_file": secret, "organ_ids": sys.Organs, "parent_codes": sys.Parents,
		}},
	}
	if b, err = yaml.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// edgeURL returns the base URL of an edge's API.
func (w *procWorld) edgeURL(id string) string {
	for _, e := range w.m.Edges {
		if e.ID == id {
			return e.URL
		}
	}
	w.t.Fatalf("no edge %s", id)
	return ""
}

// vxpClient returns a client of the edge's VXP API as its system.
func (w *procWorld) vxpClient(t *testing.T, edge string, opts ...vxp.ClientOption) *vxp.Client {
	t.Helper()
	sys := vxpSystems[edge]
	c, err := vxp.NewClient(w.edgeURL(edge)+vxpPrefix, sys.ID, sys.Secret, &http.Client{Timeout: time.Minute}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// replayGolden sends adapters/vxp/testdata/<name>.http byte for byte to
// the edge, as the SDK would with service.endpoint set to the edge's base
// URL and vxpPrefix: only the request line's path gains the prefix
// (nothing the SDK signs covers the path). It returns the HTTP status and
// the JSON answer.
func replayGolden(t *testing.T, edgeURL, name string) (int, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "adapters", "vxp", "testdata", name+".http"))
	if err != nil {
		t.Fatal(err)
	}
	sp := bytes.IndexByte(raw, ' ')
	if sp < 0 || raw[sp+1] != '/' {
		t.Fatalf("%s.http: not an HTTP request", name)
	}
	raw = slices.Concat(raw[:sp+1], []byte(vxpPrefix), raw[sp+1:])
	u, err := url.Parse(edgeURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var answer map[string]any
	if err := json.Unmarshal(body, &answer); err != nil {
		t.Fatalf("%s: HTTP %d, the answer is not JSON: %q", name, resp.StatusCode, body)
	}
	return resp.StatusCode, answer
}

// inboxID is the docId a recipient edge gives the package with these bytes.
func inboxID(pkg []byte) string {
	sum := sha256.Sum256(pkg)
	return "in-" + hex.EncodeToString(sum[:16])
}

func wantVXPCode(t *testing.T, err error, code string) {
	t.Helper()
	var re *vxp.ResponseError
	if !errors.As(err, &re) || re.ErrorCode != code || re.Status != vxp.StatusFail {
		t.Fatalf("err = %v; want a FAIL answer with ErrorCode %s", err, code)
	}
}

func TestVXPEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: starts 5 processes")
	}
	samples := conformanceSamples(t)
	w := startVXPWorld(t, 3, 32)
	ctx := context.Background()
	clients := map[string]*vxp.Client{
		"vpcp": w.vxpClient(t, "vpcp"),
		// The hanoi DMS behaves like the SDK itself: one timestamp, and
		// keys leaking from call to call.
		"hanoi":   w.vxpClient(t, "hanoi", vxp.WithHeaderLeak(), vxp.WithFilePath("xml")),
		"tayninh": w.vxpClient(t, "tayninh"),
	}
	tayninh := w.edgeURL("tayninh")

	t.Run("golden requests", func(t *testing.T) {
		tests := []struct {
			file   string
			status int
			code   string
		}{
			{"getReceivedEdocList", 200, vxp.CodeOK},
			{"countReceiveEdoc", 200, vxp.CodeOK},
			{"countReceiveStatus-leaked", 200, vxp.CodeOK}, // docId and filePath leaked from a getEdoc
			{"countReceiveStatus-get", 200, vxp.CodeOK},
			{"getSentEdocList", 200, vxp.CodeOK},
			{"getAgenciesList", 200, vxp.CodeOK},
			{"getAgenciesListQD20", 200, vxp.CodeOK},
			{"getSynchronizeUnit", 200, vxp.CodeOK},
			// Authenticated, then not found here: the SDK's error shape.
			{"getEdoc", 404, vxp.CodeNotFound},
			{"getEdoc-leaked-docid", 404, vxp.CodeNotFound},
			{"downloadEdoc", 404, vxp.CodeNotFound},
			{"updateStatus", 404, vxp.CodeNotFound},
			// Refused before the edge sees anything.
			{"reject-wrong-hmac", 401, vxp.CodeUnauthenticated},
			{"reject-unknown-systemid", 401, vxp.CodeUnauthenticated},
			{"reject-header-changed", 401, vxp.CodeUnauthenticated},
			{"reject-malformed-sign-header", 400, vxp.CodeBadRequest},
			{"reject-malformed-hash-header", 400, vxp.CodeBadRequest},
			{"reject-key-list-mismatch", 400, vxp.CodeBadRequest},
			{"reject-missing-required-key", 400, vxp.CodeBadRequest},
			{"reject-malformed-timestamp", 400, vxp.CodeBadRequest},
			{"reject-hash-file-mismatch", 401, vxp.CodeUnauthenticated},
			{"reject-not-own-organ", 403, vxp.CodeForbidden},
			{"reject-delete-foreign-agency", 403, vxp.CodeForbidden},
		}
		for _, tc := range tests {
			t.Run(tc.file, func(t *testing.T) {
				status, a := replayGolden(t, tayninh, tc.file)
				wantStatus := vxp.StatusOK
				if tc.code != vxp.CodeOK {
					wantStatus = vxp.StatusFail
				}
				desc, _ := a["ErrorDesc"].(string)
				if status != tc.status || a["status"] != wantStatus || a["ErrorCode"] != tc.code || desc == "" {
					t.Fatalf("HTTP %d %v; want HTTP %d, status %s, ErrorCode %s and an ErrorDesc", status, a, tc.status, wantStatus, tc.code)
				}
				if tc.code == vxp.CodeOK && strings.HasPrefix(tc.file, "count") {
					if _, ok := a["count"].(float64); !ok {
						t.Errorf("no count in %v", a)
					}
				}
				if tc.code == vxp.CodeOK && strings.HasPrefix(tc.file, "get") {
					if _, ok := a["data"].([]any); !ok {
						t.Errorf("no data array in %v", a)
					}
				}
			})
		}
		// sendEdoc with the unpadded hash-file and the CRLF after the
		// file: accepted and signed by the edge; the same bytes again give
		// the same DocId. (The status is about a letter the axis never
		// routed: the axis rejects it, and the tracking shows it.)
		status, a := replayGolden(t, tayninh, "sendEdoc")
		docID, _ := a["DocId"].(string)
		if status != 200 || a["ErrorCode"] != vxp.CodeOK || docID == "" {
			t.Fatalf("sendEdoc: HTTP %d %v", status, a)
		}
		if _, again := replayGolden(t, tayninh, "sendEdoc"); again["DocId"] != docID {
			t.Fatalf("the replayed sendEdoc got DocId %v, the first %s", again["DocId"], docID)
		}
		eventually(t, 30*time.Second, "the axis's rejection in getSentEdocList", func() (bool, string) {
			l, err := clients["tayninh"].SentList(ctx, vxp.MessageStatus, docID)
			if err != nil || len(l) != 1 {
				return false, fmt.Sprintf("%+v, %v", l, err)
			}
			return l[0].SendStatus == "rejected" && strings.Contains(l[0].SendStatusDesc, "unknown-document"), fmt.Sprintf("%+v", l[0])
		})
	})

	t.Run("conformance exchange", func(t *testing.T) {
		onboardSampleAgencies(t, w)
		exchangeConformance(t, ctx, w, clients, samples)
	})

	t.Run("register and delete an agency", func(t *testing.T) {
		vpcp, golden := clients["vpcp"], clients["tayninh"]
		if status, a := replayGolden(t, tayninh, "registerAgency"); status != 200 || a["ErrorCode"] != vxp.CodeOK {
			t.Fatalf("registerAgency: HTTP %d %v", status, a)
		}
		eventually(t, 30*time.Second, "the registered agency in vpcp's directory", func() (bool, string) {
			l, err := vpcp.Agencies(ctx)
			return err == nil && slices.ContainsFunc(l, func(a vxp.AgencyEntry) bool { return a.Code == registered && a.PID == "000.00.31.H53" }), fmt.Sprint(err)
		})
		pkg := letter(t, "000.00.00.G22", []string{registered}, "777", nil, nil)
		id, err := vpcp.SendEdoc(ctx, "000.00.00.G22", vxp.MessageEdoc, pkg)
		if err != nil {
			t.Fatalf("a letter to the registered agency: %v", err)
		}
		signed, err := vpcp.GetEdoc(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the letter at the registered agency", func() (bool, string) {
			l, err := golden.ReceivedList(ctx, vxp.MessageEdoc)
			return err == nil && slices.ContainsFunc(l, func(e vxp.ReceivedEntry) bool { return e.DocID == inboxID(signed) && e.To == registered }), fmt.Sprint(l, err)
		})
		if got, err := golden.GetEdoc(ctx, inboxID(signed)); err != nil || !bytes.Equal(got, signed) {
			t.Fatalf("GetEdoc at the registered agency: %d bytes, %v", len(got), err)
		}
		if err := golden.UpdateStatus(ctx, inboxID(signed), vxp.AckDone); err != nil {
			t.Fatal(err)
		}

		// Outside the system's parent codes: refused by the edge.
		err = golden.RegisterAgency(ctx, vxp.AgencyRegistration{Code: "000.05.00.H26", Name: "UBND phường X", Mail: "x@hanoi.example.gov.vn"})
		wantVXPCode(t, err, vxp.CodeForbidden)
		// Under them, with a parent the axis directory lacks: refused by
		// the axis.
		err = golden.RegisterAgency(ctx, vxp.AgencyRegistration{ParentCode: "000.00.77.H53", Code: "000.08.77.H53", Name: "UBND xã Y", Mail: "y@tayninh.example.gov.vn"})
		wantVXPCode(t, err, vxp.CodeNotFound)

		if status, a := replayGolden(t, tayninh, "deleteAgency"); status != 200 || a["ErrorCode"] != vxp.CodeOK {
			t.Fatalf("deleteAgency: HTTP %d %v", status, a)
		}
		wantVXPCode(t, golden.DeleteAgency(ctx, registered), vxp.CodeNotFound)
		eventually(t, 30*time.Second, "the deletion in vpcp's directory", func() (bool, string) {
			l, err := vpcp.SynchronizeUnits(ctx)
			i := slices.IndexFunc(l, func(u vxp.UnitEntry) bool { return u.Code == registered })
			return err == nil && i >= 0 && l[i].Deleted, fmt.Sprint(err)
		})
		_, err = vpcp.SendEdoc(ctx, "000.00.00.G22", vxp.MessageEdoc, letter(t, "000.00.00.G22", []string{registered}, "778", nil, nil))
		wantVXPCode(t, err, vxp.CodeInvalidPackage)
	})
}

// sample is one official sample package.
type sample struct {
	name string
	pkg  []byte
	p    *edoc.Package
	mt   vxp.MessageType
}

// conformanceSamples reads the official samples: documents first, then
// statuses, each by name.
func conformanceSamples(t *testing.T) []sample {
	t.Helper()
	var docs, statuses []sample
	for _, f := range edoctest.ConformanceFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := edoc.Parse(b, edoc.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s := sample{name: filepath.Base(f), pkg: b, p: p, mt: vxp.MessageEdoc}
		if p.Kind == edoc.KindStatus {
			s.mt = vxp.MessageStatus
			statuses = append(statuses, s)
		} else {
			docs = append(docs, s)
		}
	}
	return append(docs, statuses...)
}

// onboardSampleAgencies adds the samples' agencies to the axis directory
// (admin API: an onboarding of the edge again, with them), then waits
// until every edge's copy has them.
func onboardSampleAgencies(t *testing.T, w *procWorld) {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(w.dir, w.m.Axis.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	admin := func(method, path string, body, into any) {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, w.m.Axis.URL+path, r)
		req.Header.Set("Authorization", "Bearer "+string(trimNL(token)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %s: %s", method, path, resp.Status, b)
		}
		if into != nil {
			if err := json.Unmarshal(b, into); err != nil {
				t.Fatal(err)
			}
		}
	}
	var snap directory.Snapshot
	admin(http.MethodGet, "/admin/v1/directory", nil, &snap)
	for _, edge := range slices.Sorted(mapKeys(sampleAgencies)) {
		i := slices.IndexFunc(snap.Edges, func(e directory.Edge) bool { return e.ID == edge })
		if i < 0 {
			t.Fatalf("no edge %s at the axis", edge)
		}
		req := directory.OnboardRequest{Edge: directory.EdgeRequest{ID: edge, InboxTopic: snap.Edges[i].InboxTopic, Certificates: snap.Edges[i].Certificates}}
		for _, organ := range sampleAgencies[edge] {
			req.Agencies = append(req.Agencies, directory.AgencyRequest{OrganID: organ, Name: "Cơ quan mẫu " + organ})
		}
		admin(http.MethodPost, "/admin/v1/onboard", req, nil)
	}
	for _, e := range w.m.Edges {
		c := w.vxpClient(t, e.ID)
		eventually(t, 30*time.Second, "the sample agencies at edge "+e.ID, func() (bool, string) {
			l, err := c.Agencies(context.Background())
			n := 0
			for _, organs := range sampleAgencies {
				for _, o := range organs {
					if slices.ContainsFunc(l, func(a vxp.AgencyEntry) bool { return a.Code == o }) {
						n++
					}
				}
			}
			return err == nil && n == 5, fmt.Sprintf("%d of 5, %v", n, err)
		})
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// edgeOf returns the edge whose VXP system acts for organ.
func edgeOf(t *testing.T, organ string) string {
	t.Helper()
	for edge, sys := range vxpSystems {
		if slices.Contains(sys.Organs, organ) {
			return edge
		}
	}
	t.Fatalf("no system acts for %s", organ)
	return ""
}

// sent is a package a system sent: its DocId, the bytes the edge signed,
// and which recipients it must reach at which edge.
type sent struct {
	name   string
	mt     vxp.MessageType
	from   string
	docID  string
	signed []byte
	to     map[string][]string // edge → recipients there
}

// send sends pkg from its sender's system, twice (the replay must give the
// same DocId), and reads back what the edge signed.
func send(t *testing.T, ctx context.Context, clients map[string]*vxp.Client, name string, mt vxp.MessageType, from string, pkg []byte, to []string) sent {
	t.Helper()
	c := clients[edgeOf(t, from)]
	id, err := c.SendEdoc(ctx, from, mt, pkg)
	if err != nil {
		t.Fatalf("%s: SendEdoc: %v", name, err)
	}
	if again, err := c.SendEdoc(ctx, from, mt, pkg); err != nil || again != id {
		t.Fatalf("%s: the same package again gave %q, %v; want the same DocId %q", name, again, err, id)
	}
	signed, err := c.GetEdoc(ctx, id)
	if err != nil {
		t.Fatalf("%s: the sender's GetEdoc(%s): %v", name, id, err)
	}
	if !bytes.Contains(signed, []byte(edoc.NamespaceXMLDSig)) {
		t.Fatalf("%s: the edge did not sign it", name)
	}
	s := sent{name: name, mt: mt, from: from, docID: id, signed: signed, to: map[string][]string{}}
	for _, r := range to {
		s.to[edgeOf(t, r)] = append(s.to[edgeOf(t, r)], r)
	}
	return s
}

// deliver waits until every recipient system lists each package, then
// checks and acknowledges it as the SDK's receive flow does: getEdoc,
// downloadEdoc, updateStatus processing then done.
func deliver(t *testing.T, ctx context.Context, clients map[string]*vxp.Client, batch []sent) {
	t.Helper()
	for _, edge := range []string{"vpcp", "hanoi"} {
		c := clients[edge]
		var want []sent
		for _, s := range batch {
			if len(s.to[edge]) > 0 {
				want = append(want, s)
			}
		}
		if len(want) == 0 {
			continue
		}
		mts := map[vxp.MessageType]bool{}
		for _, s := range want {
			mts[s.mt] = true
		}
		listed := map[string]vxp.ReceivedEntry{}
		eventually(t, 45*time.Second, fmt.Sprintf("%d packages at %s", len(want), edge), func() (bool, string) {
			for mt := range mts {
				l, err := c.ReceivedList(ctx, mt)
				if err != nil {
					return false, err.Error()
				}
				n := map[string]int{}
				for _, e := range l {
					listed[e.DocID] = e
					if n[e.DocID]++; n[e.DocID] > 1 {
						t.Fatalf("%s lists %s twice", edge, e.DocID)
					}
				}
			}
			missing := 0
			for _, s := range want {
				if _, ok := listed[inboxID(s.signed)]; !ok {
					missing++
				}
			}
			return missing == 0, fmt.Sprintf("%d of %d missing", missing, len(want))
		})
		for _, s := range want {
			id := inboxID(s.signed)
			e := listed[id]
			if e.From != s.from || !slices.Contains(s.to[edge], e.To) || e.MessageType != string(s.mt) || e.ServiceType != vxp.ServiceType || e.CreatedTime == "" || e.Status != "pending" {
				t.Errorf("%s at %s: listed %+v", s.name, edge, e)
			}
			got, err := c.GetEdoc(ctx, id)
			if err != nil || !bytes.Equal(got, s.signed) {
				t.Fatalf("%s at %s: GetEdoc: %d bytes, %v; want the %d bytes the sender's edge signed", s.name, edge, len(got), err, len(s.signed))
			}
			raw, err := c.DownloadEdoc(ctx, id)
			if err != nil || !bytes.Equal(raw, s.signed) {
				t.Fatalf("%s at %s: DownloadEdoc: %d bytes, %v", s.name, edge, len(raw), err)
			}
			if err := c.UpdateStatus(ctx, id, vxp.AckProcessing); err != nil {
				t.Fatalf("%s: processing: %v", s.name, err)
			}
			if l, _ := c.ReceivedList(ctx, s.mt); !slices.ContainsFunc(l, func(e vxp.ReceivedEntry) bool { return e.DocID == id && e.Status == "processing" }) {
				t.Errorf("%s at %s: not listed as processing: %+v", s.name, edge, l)
			}
			if err := c.UpdateStatus(ctx, id, vxp.AckDone); err != nil {
				t.Fatalf("%s: done: %v", s.name, err)
			}
			if err := c.UpdateStatus(ctx, id, vxp.AckDone); err != nil {
				t.Fatalf("%s: done twice: %v", s.name, err)
			}
			wantVXPCode(t, c.UpdateStatus(ctx, id, vxp.AckFail), vxp.CodeConflict)
			if l, _ := c.ReceivedList(ctx, s.mt); slices.ContainsFunc(l, func(e vxp.ReceivedEntry) bool { return e.DocID == id }) {
				t.Errorf("%s at %s: still listed after done", s.name, edge)
			}
		}
	}
}

// exchangeConformance sends every official sample between the vpcp and
// hanoi edges, each recipient answering documents with its own 01, and
// reads the deliveries and statuses back at the senders.
func exchangeConformance(t *testing.T, ctx context.Context, w *procWorld, clients map[string]*vxp.Client, samples []sample) {
	var docs, statuses []sent
	recipientsOf := map[string][]string{} // root key → recipients of its documents
	for _, s := range samples {
		if s.mt != vxp.MessageEdoc {
			continue
		}
		d := send(t, ctx, clients, s.name, s.mt, s.p.Sender(), s.pkg, s.p.Recipients())
		docs = append(docs, d)
		key := s.p.Sender() + "/" + s.p.Header.DocumentID
		for _, r := range s.p.Recipients() {
			if !slices.Contains(recipientsOf[key], r) {
				recipientsOf[key] = append(recipientsOf[key], r)
			}
		}
	}
	deliver(t, ctx, clients, docs)
	// The axis's receipts reach the senders' edges: a recall needs the
	// letters accepted there.
	for _, d := range docs {
		c := clients[edgeOf(t, d.from)]
		eventually(t, 30*time.Second, "the receipts of "+d.name, func() (bool, string) {
			l, err := c.SentList(ctx, vxp.MessageEdoc, d.docID)
			if err != nil || len(l) == 0 {
				return false, fmt.Sprintf("%+v, %v", l, err)
			}
			for _, e := range l {
				if e.SendStatus != "delivered" {
					return false, e.ToCode + ": " + e.SendStatus
				}
			}
			return true, ""
		})
	}

	// Each recipient system answers with its own 01, through sendEdoc,
	// from the first recipient it acts for; then the samples' statuses.
	// (The 01s name the letter: the three letters of one root key would
	// otherwise get byte-identical 01s within a second, which content
	// deduplication rightly sends once.)
	last01 := map[string]string{}   // sender docId → the recipient that answered
	answered01 := map[string]bool{} // root key + recipient → sent its 01
	for _, d := range docs {
		doc, err := edoc.Parse(d.signed, edoc.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		for _, edge := range slices.Sorted(mapKeys(d.to)) {
			from := d.to[edge][0]
			st, err := edoc.NewStatus(doc, edoc.Organization{OrganID: from, OrganName: "Cơ quan mẫu " + from}, edoc.StatusArrived, "Đã nhận "+d.name, edoc.StaffInfo{Staff: "Văn thư"}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if _, err := st.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			statuses = append(statuses, send(t, ctx, clients, d.name+" 01 from "+from, vxp.MessageStatus, from, buf.Bytes(), []string{doc.Sender()}))
			last01[d.docID] = from
			ro, rd := doc.RootDocument()
			answered01[ro+"/"+rd+"|"+from] = true
		}
	}
	for _, s := range samples {
		if s.mt != vxp.MessageStatus {
			continue
		}
		org, docID := s.p.ResponseFor()
		if ro, rd := s.p.RootDocument(); s.p.StatusCode() == edoc.StatusArrived && answered01[ro+"/"+rd+"|"+s.p.Sender()] {
			// That agency already answered this letter with its 01: a
			// second one is refused, never sent.
			c := clients[edgeOf(t, s.p.Sender())]
			if _, err := c.SendEdoc(ctx, s.p.Sender(), s.mt, s.pkg); err == nil || !strings.Contains(err.Error(), "409") {
				t.Errorf("%s: a second 01 from %s: %v, want the SDK's 409 conflict", s.name, s.p.Sender(), err)
			}
			continue
		}
		to := []string{org}
		if s.p.StatusCode() == edoc.StatusRecallRequested {
			to = recipientsOf[s.p.Sender()+"/"+docID]
		}
		statuses = append(statuses, send(t, ctx, clients, s.name, s.mt, s.p.Sender(), s.pkg, to))
	}
	deliver(t, ctx, clients, statuses)
	for edge, c := range clients {
		if edge == "tayninh" {
			continue
		}
		for _, mt := range []vxp.MessageType{vxp.MessageEdoc, vxp.MessageStatus} {
			if n, err := c.CountReceived(ctx, mt); err != nil || n != 0 {
				t.Errorf("%s: %d %s still waiting after every done, %v", edge, n, mt, err)
			}
		}
	}

	// The senders read the deliveries back. A document's statuses go to
	// the last document sent with its root key, so the answers are read
	// there; every recipient of every document was delivered.
	lastOfKey := map[string]sent{}
	for _, d := range docs {
		p, _ := edoc.Parse(d.signed, edoc.Limits{})
		lastOfKey[p.Sender()+"/"+p.Header.DocumentID] = d
	}
	for _, d := range docs {
		c := clients[edgeOf(t, d.from)]
		p, _ := edoc.Parse(d.signed, edoc.Limits{})
		isLast := lastOfKey[p.Sender()+"/"+p.Header.DocumentID].docID == d.docID
		eventually(t, 30*time.Second, "the deliveries of "+d.name, func() (bool, string) {
			l, err := c.SentList(ctx, vxp.MessageEdoc, d.docID)
			if err != nil || len(l) != len(p.Recipients()) {
				return false, fmt.Sprintf("%d entries, %v", len(l), err)
			}
			for _, e := range l {
				if e.SenderDocID != d.docID || e.FromCode != d.from || !slices.Contains(p.Recipients(), e.ToCode) || e.Title != p.Header.Subject || e.SentTime == "" {
					t.Fatalf("%s: sent entry %+v", d.name, e)
				}
				if e.SendStatus != "delivered" || e.ReceiverDocID != inboxID(d.signed) {
					return false, fmt.Sprintf("%s: %s %s", e.ToCode, e.SendStatus, e.ReceiverDocID)
				}
				answered := slices.ContainsFunc(slices.Collect(mapValues(d.to)), func(rs []string) bool { return rs[0] == e.ToCode })
				if isLast && answered && (e.ReceiveStatus == "pending" || e.ReceivedTime == "") {
					return false, fmt.Sprintf("%s has not answered yet: %s", e.ToCode, e.ReceiveStatus)
				}
			}
			return true, ""
		})
	}
	// The last status the first recipient of the G22 letter sent is the
	// last sample from it (statuses of one letter keep their order).
	var lastFromH41 string
	for _, s := range samples {
		if s.mt == vxp.MessageStatus && s.p.Sender() == "000.00.00.H41" {
			lastFromH41 = string(s.p.StatusCode())
		}
	}
	for _, d := range lastOfKey {
		if d.from != "000.00.00.G22" {
			continue
		}
		l, err := clients["vpcp"].SentList(ctx, vxp.MessageEdoc, d.docID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range l {
			if e.ToCode == "000.00.00.H41" && e.ReceiveStatus != lastFromH41 {
				t.Errorf("%s: H41's receiveStatus %q, want the last it sent, %s", d.name, e.ReceiveStatus, lastFromH41)
			}
		}
	}
	// The statuses, as sent packages: delivered and received.
	for _, s := range statuses {
		c := clients[edgeOf(t, s.from)]
		eventually(t, 30*time.Second, "the tracking of "+s.name, func() (bool, string) {
			l, err := c.SentList(ctx, vxp.MessageStatus, s.docID)
			if err != nil || len(l) == 0 {
				return false, fmt.Sprintf("%+v, %v", l, err)
			}
			for _, e := range l {
				if e.SendStatus != "delivered" || e.ReceiveStatus != "received" {
					return false, fmt.Sprintf("%+v", e)
				}
			}
			return true, ""
		})
	}
	// Every document was sent once however often its sendEdoc was
	// repeated: one outbox entry, one DocId, per document.
	for _, edge := range []string{"vpcp", "hanoi"} {
		l, err := clients[edge].SentList(ctx, vxp.MessageEdoc, "")
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, e := range l {
			ids[e.SenderDocID] = true
		}
		want := 0
		for _, d := range docs {
			if edgeOf(t, d.from) == edge {
				want++
				if !ids[d.docID] {
					t.Errorf("%s: %s is not in the sent list", edge, d.name)
				}
			}
		}
		if len(ids) != want {
			t.Errorf("%s: %d documents sent, want %d", edge, len(ids), want)
		}
	}
}

func mapValues[V any](m map[string]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}
