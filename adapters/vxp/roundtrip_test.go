package vxp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"truc.vn/truc/adapters/vxp"
	"truc.vn/truc/adapters/vxp/vxptest"
	"truc.vn/truc/edoc"
	"truc.vn/truc/edoc/edoctest"
)

// dms is one DMS installation in a round trip: its system and its client.
type dms struct {
	sys    vxp.System
	client *vxp.Client
}

// exchange is a set of DMS installations, each served by its own handler
// (its own endpoint) over one shared Memory backend.
type exchange struct {
	mem  *vxptest.Memory
	dmss map[string]*dms     // by OrganId
	sent map[string][]string // "sender DocumentId" → recipients, of the documents sent
}

// newExchange makes one system per OrganId, each with its own endpoint;
// the leaky ones use a client that leaks headers like the SDK.
func newExchange(t *testing.T, organs []string, leak bool) *exchange {
	t.Helper()
	ex := &exchange{mem: vxptest.NewMemory(nil), dmss: map[string]*dms{}, sent: map[string][]string{}}
	for i, org := range organs {
		sys := vxp.System{
			ID: fmt.Sprintf("dms.%02d", i), Secret: fmt.Sprintf("secret-of-dms-%02d-0123456789", i),
			OrganIDs: []string{org}, ParentCodes: []string{"000.00.00.H53"},
		}
		// Every endpoint knows every system, as edges sharing a directory
		// would; each client talks to its own.
		var all []vxp.System
		for j, o := range organs {
			all = append(all, vxp.System{ID: fmt.Sprintf("dms.%02d", j), Secret: fmt.Sprintf("secret-of-dms-%02d-0123456789", j), OrganIDs: []string{o}, ParentCodes: []string{"000.00.00.H53"}})
		}
		h, err := vxp.NewHandler(vxp.Config{Systems: all}, ex.mem, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		var opts []vxp.ClientOption
		if leak {
			opts = append(opts, vxp.WithHeaderLeak(), vxp.WithFilePath("xml"))
		}
		c, err := vxp.NewClient(srv.URL, sys.ID, sys.Secret, srv.Client(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		ex.dmss[org] = &dms{sys: sys, client: c}
	}
	return ex
}

// conformance returns the official samples with their parsed form.
func conformance(t *testing.T) (docs, statuses map[string][]byte, organs []string) {
	t.Helper()
	docs, statuses = map[string][]byte{}, map[string][]byte{}
	seen := map[string]bool{}
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			organs = append(organs, id)
		}
	}
	for _, f := range edoctest.ConformanceFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := edoc.Parse(b, edoc.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		add(p.Sender())
		for _, r := range p.Recipients() {
			add(r)
		}
		org, _ := p.ResponseFor()
		add(org)
		if p.Kind == edoc.KindDocument {
			docs[filepath.Base(f)] = b
		} else {
			statuses[filepath.Base(f)] = b
		}
	}
	slices.Sort(organs)
	return docs, statuses, organs
}

// TestExchangeConformance sends every official sample through the API and
// has every recipient list, fetch (both ways), acknowledge and count it,
// then the sender read the deliveries back, with clients that behave like
// the careful Go client and like the leaky SDK.
func TestExchangeConformance(t *testing.T) {
	docs, statuses, organs := conformance(t)
	for _, leak := range []bool{false, true} {
		t.Run(fmt.Sprintf("leak=%v", leak), func(t *testing.T) {
			ex := newExchange(t, organs, leak)
			ctx := context.Background()
			for _, set := range []struct {
				mt    vxp.MessageType
				files map[string][]byte
			}{{vxp.MessageEdoc, docs}, {vxp.MessageStatus, statuses}} {
				for _, name := range slices.Sorted(mapsKeys(set.files)) {
					pkg := set.files[name]
					ex.sendAndDeliver(t, ctx, name, set.mt, pkg)
				}
			}
		})
	}
}

func mapsKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// sendAndDeliver sends pkg from its sender and checks its way to every
// recipient and back.
func (ex *exchange) sendAndDeliver(t *testing.T, ctx context.Context, name string, mt vxp.MessageType, pkg []byte) {
	t.Helper()
	p, err := edoc.Parse(pkg, edoc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	sender := ex.dmss[p.Sender()]
	// Where it must arrive: a document's To, a status's ResponseFor
	// OrganId, a recall request (13) the recipients of the document it
	// names, when that document went through here.
	to := p.Recipients()
	if mt == vxp.MessageEdoc {
		key := p.Sender() + " " + p.Header.DocumentID
		for _, org := range to {
			if !slices.Contains(ex.sent[key], org) {
				ex.sent[key] = append(ex.sent[key], org)
			}
		}
	} else {
		org, docID := p.ResponseFor()
		to = []string{org}
		if r := ex.sent[p.Sender()+" "+docID]; p.StatusCode() == edoc.StatusRecallRequested && len(r) > 0 {
			to = r
		}
	}
	docID, err := sender.client.SendEdoc(ctx, p.Sender(), mt, pkg)
	if err != nil {
		t.Fatalf("%s: SendEdoc: %v", name, err)
	}
	again, err := sender.client.SendEdoc(ctx, p.Sender(), mt, pkg)
	if err != nil || again != docID {
		t.Fatalf("%s: the same package again gave %q, %v; want the same DocId %q", name, again, err, docID)
	}
	for _, org := range to {
		rcpt := ex.dmss[org]
		n, err := rcpt.client.CountReceived(ctx, mt)
		if err != nil || n != 1 {
			t.Fatalf("%s: %s counts %d %s, %v; want 1", name, org, n, mt, err)
		}
		list, err := rcpt.client.ReceivedList(ctx, mt)
		if err != nil || len(list) != 1 {
			t.Fatalf("%s: %s lists %+v, %v", name, org, list, err)
		}
		item := list[0]
		if item.From != p.Sender() || item.To != org || item.MessageType != string(mt) || item.ServiceType != vxp.ServiceType || item.CreatedTime == "" {
			t.Errorf("%s: listed %+v", name, item)
		}
		got, err := rcpt.client.GetEdoc(ctx, item.DocID)
		if err != nil || !bytes.Equal(got, pkg) {
			t.Fatalf("%s: %s GetEdoc: %d bytes, %v; want the %d bytes sent", name, org, len(got), err, len(pkg))
		}
		raw, err := rcpt.client.DownloadEdoc(ctx, item.DocID)
		if err != nil || !bytes.Equal(raw, pkg) {
			t.Fatalf("%s: %s DownloadEdoc: %d bytes, %v", name, org, len(raw), err)
		}
		if err := rcpt.client.UpdateStatus(ctx, item.DocID, vxp.AckProcessing); err != nil {
			t.Fatalf("%s: processing: %v", name, err)
		}
		if n, _ := rcpt.client.CountReceived(ctx, mt); n != 1 {
			t.Errorf("%s: still processing, but counted %d", name, n)
		}
		if err := rcpt.client.UpdateStatus(ctx, item.DocID, vxp.AckDone); err != nil {
			t.Fatalf("%s: done: %v", name, err)
		}
		if err := rcpt.client.UpdateStatus(ctx, item.DocID, vxp.AckDone); err != nil {
			t.Fatalf("%s: done twice: %v", name, err)
		}
		var re *vxp.ResponseError
		if err := rcpt.client.UpdateStatus(ctx, item.DocID, vxp.AckFail); !errors.As(err, &re) || re.ErrorCode != vxp.CodeConflict {
			t.Fatalf("%s: done then fail: err = %v, want ErrorCode %s", name, err, vxp.CodeConflict)
		}
		if n, err := rcpt.client.CountReceived(ctx, mt); err != nil || n != 0 {
			t.Fatalf("%s: after done, %s counts %d, %v", name, org, n, err)
		}
	}
	sent, err := sender.client.SentList(ctx, mt, docID)
	if err != nil || len(sent) != len(to) {
		t.Fatalf("%s: SentList: %+v, %v; want %d entries", name, sent, err, len(to))
	}
	for _, s := range sent {
		if s.SenderDocID != docID || s.FromCode != p.Sender() || !slices.Contains(to, s.ToCode) ||
			s.ReceiveStatus != string(vxp.AckDone) || s.ReceivedTime == "" {
			t.Errorf("%s: sent entry %+v", name, s)
		}
	}
	if mt == vxp.MessageEdoc && p.Header.Subject != "" && sent[0].Title != p.Header.Subject {
		t.Errorf("%s: title %q, want the subject %q", name, sent[0].Title, p.Header.Subject)
	}
}

// TestExchangeRefusals checks the Backend's refusals as the client sees
// them: the SDK's error shape with the ErrorCode of the table, and
// nothing changed.
func TestExchangeRefusals(t *testing.T) {
	pkg := readFile(t, "status_01.edxml")
	ex := newExchange(t, []string{goldenOrgan, "000.00.00.G22", "000.00.00.H41"}, false)
	ctx := context.Background()
	h53, g22, h41 := ex.dmss[goldenOrgan].client, ex.dmss["000.00.00.G22"].client, ex.dmss["000.00.00.H41"].client

	wantCode := func(t *testing.T, err error, code, inDesc string) {
		t.Helper()
		var re *vxp.ResponseError
		if !errors.As(err, &re) || re.ErrorCode != code || !strings.Contains(re.ErrorDesc, inDesc) {
			t.Fatalf("err = %v, want ErrorCode %s with %q", err, code, inDesc)
		}
	}
	t.Run("sender is not the from header", func(t *testing.T) {
		_, err := g22.SendEdoc(ctx, "000.00.00.G22", vxp.MessageStatus, pkg)
		wantCode(t, err, vxp.CodeInvalidPackage, "From/OrganId")
	})
	t.Run("from is not one of the system's OrganIds", func(t *testing.T) {
		_, err := g22.SendEdoc(ctx, goldenOrgan, vxp.MessageStatus, pkg)
		wantCode(t, err, vxp.CodeForbidden, "XroadVnpt-from")
	})
	t.Run("status sent as edoc", func(t *testing.T) {
		_, err := h53.SendEdoc(ctx, goldenOrgan, vxp.MessageEdoc, pkg)
		wantCode(t, err, vxp.CodeInvalidPackage, "messagetype")
	})
	t.Run("not XML", func(t *testing.T) {
		_, err := h53.SendEdoc(ctx, goldenOrgan, vxp.MessageStatus, []byte("PK\x03\x04 not xml"))
		wantCode(t, err, vxp.CodeInvalidPackage, "package")
	})
	t.Run("invalid package names the field and rule", func(t *testing.T) {
		bad := bytes.Replace(pkg, []byte("<edXML:StatusCode>01<"), []byte("<edXML:StatusCode><"), 1)
		_, err := h53.SendEdoc(ctx, goldenOrgan, vxp.MessageStatus, bad)
		wantCode(t, err, vxp.CodeInvalidPackage, "StatusCode")
	})
	t.Run("unknown docId", func(t *testing.T) {
		_, err := h53.GetEdoc(ctx, "000000000000000000000000")
		wantCode(t, err, vxp.CodeNotFound, "docId")
		_, err = h53.DownloadEdoc(ctx, "000000000000000000000000")
		wantCode(t, err, vxp.CodeNotFound, "docId")
		wantCode(t, h53.UpdateStatus(ctx, "000000000000000000000000", vxp.AckDone), vxp.CodeNotFound, "docid")
	})
	t.Run("someone else's document", func(t *testing.T) {
		id, err := h53.SendEdoc(ctx, goldenOrgan, vxp.MessageStatus, pkg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h41.GetEdoc(ctx, id)
		wantCode(t, err, vxp.CodeNotFound, "docId")
		list, _ := g22.ReceivedList(ctx, vxp.MessageStatus)
		if len(list) != 1 {
			t.Fatalf("G22 lists %d", len(list))
		}
		wantCode(t, h41.UpdateStatus(ctx, list[0].DocID, vxp.AckDone), vxp.CodeNotFound, "docid")
		if n, _ := g22.CountReceived(ctx, vxp.MessageStatus); n != 1 {
			t.Fatalf("a refused updateStatus changed the count to %d", n)
		}
	})
}

// TestExchangeDirectory runs the directory operations end to end.
func TestExchangeDirectory(t *testing.T) {
	ex := newExchange(t, []string{goldenOrgan}, true)
	ctx := context.Background()
	c := ex.dmss[goldenOrgan].client
	ex.mem.AddAgency(vxp.Agency{ID: "1", Code: "000.00.00.H53", Name: "UBND tỉnh Tây Ninh", Mail: "ubnd@tayninh.example.gov.vn"})
	ex.mem.AddAgency(vxp.Agency{ID: "2", ParentID: "1", Code: "000.00.31.H53", Name: "UBND huyện Bến Cầu", Mail: "bencau@tayninh.example.gov.vn", OldCode: "000.00.31.H53"})

	reg := vxp.AgencyRegistration{ParentCode: "000.00.31.H53", Code: "000.05.31.H53", Name: "UBND xã Lợi Thuận", Mail: "loithuan@tayninh.example.gov.vn", Mobile: "0276 3870 000"}
	if err := c.RegisterAgency(ctx, reg); err != nil {
		t.Fatal(err)
	}
	list, err := c.Agencies(ctx)
	if err != nil || len(list) != 3 || list[2].Code != reg.Code || list[2].Name != reg.Name || list[2].PID != "2" {
		t.Fatalf("Agencies = %+v, %v", list, err)
	}
	qd20, err := c.AgenciesQD20(ctx)
	if err != nil || len(qd20) != 3 || qd20[1].Code102 != "000.00.31.H53" {
		t.Fatalf("AgenciesQD20 = %+v, %v", qd20, err)
	}
	var re *vxp.ResponseError
	foreign := reg
	foreign.Code, foreign.ParentCode = "000.05.31.H41", ""
	if err := c.RegisterAgency(ctx, foreign); !errors.As(err, &re) || re.ErrorCode != vxp.CodeForbidden {
		t.Fatalf("registering outside the parent codes: %v", err)
	}
	if err := c.DeleteAgency(ctx, reg.Code); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAgency(ctx, reg.Code); !errors.As(err, &re) || re.ErrorCode != vxp.CodeNotFound {
		t.Fatalf("deleting twice: %v", err)
	}
	units, err := c.SynchronizeUnits(ctx)
	if err != nil || len(units) != 3 {
		t.Fatalf("SynchronizeUnits = %+v, %v", units, err)
	}
	u := units[2]
	if u.Code != reg.Code || !u.Deleted || u.Version <= units[1].Version || u.ModifyDate == "" {
		t.Fatalf("deleted unit %+v (versions %d, %d)", u, units[1].Version, u.Version)
	}
	if list, _ := c.Agencies(ctx); len(list) != 2 {
		t.Fatalf("after delete, %d agencies", len(list))
	}
}

// TestConcurrentClients runs many clients at once against one handler
// (meant for -race).
func TestConcurrentClients(t *testing.T) {
	pkg := readFile(t, "status_01.edxml")
	ex := newExchange(t, []string{goldenOrgan, "000.00.00.G22"}, true)
	ctx := context.Background()
	sender, rcpt := ex.dmss[goldenOrgan].client, ex.dmss["000.00.00.G22"].client
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Distinct packages: a different description each.
			p := bytes.Replace(pkg, []byte("chưa xử lý"), []byte(fmt.Sprintf("chưa xử lý %d", i)), 1)
			if _, err := sender.SendEdoc(ctx, goldenOrgan, vxp.MessageStatus, p); err != nil {
				t.Error(err)
			}
			if _, err := rcpt.CountReceived(ctx, vxp.MessageStatus); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, err := rcpt.CountReceived(ctx, vxp.MessageStatus); err != nil || n != 8 {
		t.Fatalf("count %d, %v; want 8", n, err)
	}
}
