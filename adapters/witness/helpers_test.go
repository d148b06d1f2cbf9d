package witness_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"truc.vn/truc/adapters/boltstore"
	"truc.vn/truc/adapters/witness"
	"truc.vn/truc/bus"
	"truc.vn/truc/signing/notesig"
	"truc.vn/truc/signing/signingtest"
)

const origin = "truc.vn/axis/test-axis"

// axisWorld is an axis as witnesses see it: a real boltstore log behind
// the log endpoints the axis serves (checkpoint, consistency) and the
// real witness.Handler. The checkpoint and proof endpoints can be pointed
// at another log with the same key (a split view), or made to serve a
// given note.
type axisWorld struct {
	t         testing.TB
	logKey    crypto.Signer
	logSigner *notesig.Signer
	logKeys   note.Verifiers
	store     *boltstore.Store // the axis's own log: the handler's store
	witnesses *keyring
	srv       *httptest.Server

	serving   atomic.Pointer[boltstore.Log] // the log the checkpoint and proof endpoints show
	override  atomic.Pointer[[]byte]        // a note served as the latest checkpoint instead
	posts     atomic.Int64                  // POSTs of cosignatures received
	failPosts atomic.Bool                   // answer POSTs 503
	leaves    atomic.Int64                  // a counter making fork leaves unique
}

func newAxisWorld(t testing.TB) *axisWorld {
	t.Helper()
	return newAxisWorldKey(t, signingtest.NewKey(t, signingtest.P256))
}

// newAxisWorldKey is newAxisWorld with the given log key.
func newAxisWorldKey(t testing.TB, key crypto.Signer) *axisWorld {
	t.Helper()
	a := &axisWorld{t: t, logKey: key, witnesses: &keyring{}}
	var err error
	if a.logSigner, err = notesig.NewSigner(origin, a.logKey); err != nil {
		t.Fatal(err)
	}
	if a.logKeys, err = notesig.VerifierList(a.logSigner.Verifier()); err != nil {
		t.Fatal(err)
	}
	a.store = a.openLog(filepath.Join(t.TempDir(), "axis.db"))
	a.serving.Store(a.store.Log())
	h, err := witness.NewHandler(witness.HandlerConfig{Store: a.store.Log(), LogKeys: a.logKeys, Witnesses: a.witnesses})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+witness.PathCheckpoint, func(w http.ResponseWriter, r *http.Request) {
		if o := a.override.Load(); o != nil {
			_, _ = w.Write(*o)
			return
		}
		cp, err := a.serving.Load().Checkpoint(r.Context())
		if err != nil {
			http.Error(w, "no checkpoint yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(cp.Note)
	})
	// As cmd/truc/axis.go serves it.
	mux.HandleFunc("GET "+witness.PathConsistency, func(w http.ResponseWriter, r *http.Request) {
		oldSize, err1 := strconv.ParseInt(r.URL.Query().Get("old"), 10, 64)
		newSize, err2 := strconv.ParseInt(r.URL.Query().Get("new"), 10, 64)
		if err1 != nil || err2 != nil {
			http.Error(w, "old and new must be tree sizes (integers)", http.StatusBadRequest)
			return
		}
		proof, err := a.serving.Load().ConsistencyProof(r.Context(), oldSize, newSize)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, h := range proof {
			fmt.Fprintln(w, base64.StdEncoding.EncodeToString(h[:]))
		}
	})
	mux.Handle(witness.PathCosignatures, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.posts.Add(1)
		if a.failPosts.Load() {
			http.Error(w, "the store is busy", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	mux.Handle(witness.PathCosigned, h)
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *axisWorld) openLog(path string) *boltstore.Store {
	a.t.Helper()
	s, err := boltstore.Open(path, boltstore.Config{LogSigner: a.logSigner})
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { s.Close() })
	return s
}

// grow appends leaves to l until it has size leaves, then signs a
// checkpoint. Leaves are "leaf <i>", or unique ones when fork is set.
func (a *axisWorld) grow(l *boltstore.Log, size int64, fork bool) bus.SignedCheckpoint {
	a.t.Helper()
	ctx := context.Background()
	n, err := l.Size(ctx)
	if err != nil {
		a.t.Fatal(err)
	}
	for ; n < size; n++ {
		leaf := fmt.Sprintf("leaf %d", n)
		if fork {
			leaf = fmt.Sprintf("fork leaf %d/%d", n, a.leaves.Add(1))
		}
		if _, err := l.Append(ctx, []byte(leaf)); err != nil {
			a.t.Fatal(err)
		}
	}
	cp, err := l.SignCheckpoint(ctx)
	if err != nil {
		a.t.Fatal(err)
	}
	return cp
}

// fork returns a second log with the same key and origin holding the
// axis log's first common leaves.
func (a *axisWorld) fork(common int64) *boltstore.Log {
	a.t.Helper()
	l := a.openLog(filepath.Join(a.t.TempDir(), "fork.db")).Log()
	a.grow(l, common, false)
	return l
}

func (a *axisWorld) serve(msg []byte) {
	if msg == nil {
		a.override.Store(nil)
		return
	}
	a.override.Store(&msg)
}

// witnessAt makes a witness named after an edge, whose key the axis
// knows, with its state in dir.
func (a *axisWorld) witnessAt(dir, edge string, key crypto.Signer, log *slog.Logger) (*witness.Witness, *notesig.Signer) {
	a.t.Helper()
	s, err := notesig.NewSigner(bus.EdgeNoteName(edge), key)
	if err != nil {
		a.t.Fatal(err)
	}
	a.witnesses.add(s.Verifier())
	client, err := witness.NewClient(a.srv.URL, a.srv.Client())
	if err != nil {
		a.t.Fatal(err)
	}
	w, err := witness.New(witness.Config{Log: client, LogKeys: a.logKeys, Signer: s, Dir: dir, Logger: log})
	if err != nil {
		a.t.Fatal(err)
	}
	return w, s
}

// cosigners returns the witnesses whose cosignatures the axis holds for
// the checkpoint of size.
func (a *axisWorld) cosigners(size int64) []string {
	a.t.Helper()
	msg, err := a.store.Log().Cosigned(context.Background(), size)
	if err != nil {
		a.t.Fatal(err)
	}
	_, names, err := bus.OpenCosigned(msg, a.logKeys, a.witnesses)
	if err != nil {
		a.t.Fatalf("the axis serves a cosigned checkpoint that does not open: %v\n%s", err, msg)
	}
	return names
}

// keyring is a note.Verifiers that keys can be added to.
type keyring struct {
	mu sync.Mutex
	vs []note.Verifier
}

func (k *keyring) add(v note.Verifier) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.vs = append(k.vs, v)
}

func (k *keyring) Verifier(name string, hash uint32) (note.Verifier, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return note.VerifierList(k.vs...).Verifier(name, hash)
}

// logBuffer collects a logger's output for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}
