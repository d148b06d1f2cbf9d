package restapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
)

// poll starts GET target as the Hà Nội DMS in the background and returns
// a function that waits for the answer and says how long it took on the
// bubble's clock.
func poll(e *env, ctx context.Context, target string) func() (*httptest.ResponseRecorder, restapi.InboxPage, time.Duration) {
	type result struct {
		w *httptest.ResponseRecorder
		d time.Duration
	}
	done := make(chan result, 1)
	start := time.Now()
	r := httptest.NewRequestWithContext(ctx, "GET", target, nil)
	r.Header.Set("Authorization", "Bearer "+tokHanoi)
	go func() {
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		done <- result{w, time.Since(start)}
	}()
	return func() (*httptest.ResponseRecorder, restapi.InboxPage, time.Duration) {
		res := <-done
		e.spec.check(e.t, r, nil, res.w)
		var p restapi.InboxPage
		if res.w.Code == http.StatusOK {
			decode(e.t, res.w, &p)
		}
		return res.w, p, res.d
	}
}

func TestLongPoll(t *testing.T) {
	t.Run("returns when an item arrives", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t)
			wait := poll(e, context.Background(), "/v1/inbox?wait=30")
			time.Sleep(5 * time.Second)
			it, err := e.mem.Deliver(restapitest.NewDocument(t, vpcp, hanoi), hanoi)
			if err != nil {
				t.Fatal(err)
			}
			w, p, d := wait()
			if w.Code != 200 || len(p.Items) != 1 || p.Items[0].ID != it.ID || p.Next != it.Seq {
				t.Fatalf("%d %+v", w.Code, p)
			}
			if d != 5*time.Second {
				t.Fatalf("answered after %v, want 5s", d)
			}
		})
	})
	t.Run("times out with nothing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t)
			w, p, d := poll(e, context.Background(), "/v1/inbox?after=0&wait=2")()
			if w.Code != 200 || len(p.Items) != 0 || p.Next != 0 || d != 2*time.Second {
				t.Fatalf("%d %+v after %v", w.Code, p, d)
			}
		})
	})
	t.Run("capped at max_wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxWait = 10 * time.Second
			e := newEnvConfig(t, cfg)
			_, p, d := poll(e, context.Background(), "/v1/inbox?wait=3600")()
			if len(p.Items) != 0 || d != 10*time.Second {
				t.Fatalf("%+v after %v", p, d)
			}
		})
	})
	t.Run("items for others do not end it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t)
			wait := poll(e, context.Background(), "/v1/inbox?wait=30")
			time.Sleep(time.Second)
			if _, err := e.mem.Deliver(restapitest.NewDocument(t, vpcp, bnv), bnv); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
			mine, err := e.mem.Deliver(restapitest.NewDocument(t, vpcp, hanoiSub), hanoiSub)
			if err != nil {
				t.Fatal(err)
			}
			w, p, d := wait()
			if w.Code != 200 || len(p.Items) != 1 || p.Items[0].ID != mine.ID || p.Next != 2 || d != 3*time.Second {
				t.Fatalf("%d %+v after %v", w.Code, p, d)
			}
		})
	})
	t.Run("only items for others: times out past them", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t)
			wait := poll(e, context.Background(), "/v1/inbox?wait=4")
			time.Sleep(time.Second)
			if _, err := e.mem.Deliver(restapitest.NewDocument(t, vpcp, bnv), bnv); err != nil {
				t.Fatal(err)
			}
			_, p, d := wait()
			if len(p.Items) != 0 || p.Next != 1 || d != 4*time.Second {
				t.Fatalf("%+v after %v: want nothing, next 1, after 4s", p, d)
			}
		})
	})
	t.Run("no wait when there are items", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t)
			if _, err := e.mem.Deliver(restapitest.NewDocument(t, vpcp, hanoi), hanoi); err != nil {
				t.Fatal(err)
			}
			_, p, d := poll(e, context.Background(), "/v1/inbox?wait=30")()
			if len(p.Items) != 1 || d != 0 || e.mem.Calls("WaitInbox") != 0 {
				t.Fatalf("%+v after %v", p, d)
			}
		})
	})
	t.Run("ended by EndLongPolls", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t)
			wait := poll(e, context.Background(), "/v1/inbox?wait=30")
			time.Sleep(time.Second)
			e.h.EndLongPolls()
			w, p, d := wait()
			if w.Code != 200 || len(p.Items) != 0 || d != time.Second {
				t.Fatalf("%d %+v after %v", w.Code, p, d)
			}
			// Later long polls answer at once.
			if _, _, d := poll(e, context.Background(), "/v1/inbox?wait=30")(); d != 0 {
				t.Fatalf("a long poll after EndLongPolls waited %v", d)
			}
		})
	})
	t.Run("client goes away", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t)
			ctx, cancel := context.WithCancel(context.Background())
			wait := poll(e, ctx, "/v1/inbox?wait=30")
			time.Sleep(time.Second)
			cancel()
			w, _, d := wait()
			if w.Code != http.StatusServiceUnavailable || d != time.Second {
				t.Fatalf("%d after %v", w.Code, d)
			}
		})
	})
	t.Run("backend fails while waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t)
			wait := poll(e, context.Background(), "/v1/inbox?wait=30")
			synctest.Wait()
			e.mem.FailNext(context.DeadlineExceeded)
			if _, err := e.mem.Deliver(restapitest.NewDocument(t, vpcp, hanoi), hanoi); err != nil {
				t.Fatal(err)
			}
			w, _, _ := wait()
			wantProblem(t, w, http.StatusServiceUnavailable, restapi.ReasonUnavailable, "")
		})
	})
}
