package restapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/adapters/restapi/restapitest"
)

// ownedWebhooks is restapitest.Webhooks whose deliveries belong to one
// subscription administered by the token named owner.
type ownedWebhooks struct {
	*restapitest.Webhooks
	owner string
}

func (o ownedWebhooks) Deliveries(ctx context.Context, q restapi.WebhookQuery) ([]restapi.WebhookDelivery, error) {
	ds, err := o.Webhooks.Deliveries(ctx, q)
	for i := range ds {
		ds[i].Client = o.owner
	}
	return ds, err
}

func (o ownedWebhooks) Delivery(ctx context.Context, id string) (restapi.WebhookDelivery, error) {
	d, err := o.Webhooks.Delivery(ctx, id)
	d.Client = o.owner
	return d, err
}

func (o ownedWebhooks) Retry(ctx context.Context, id string) (restapi.WebhookDelivery, error) {
	d, err := o.Webhooks.Retry(ctx, id)
	d.Client = o.owner
	return d, err
}

// TestRedteamWebhookAdminScopedToClient: a second DMS token acting for
// the same agency neither lists nor retries the deliveries of a
// subscription another token administers (its receiver URL included).
func TestRedteamWebhookAdminScopedToClient(t *testing.T) {
	const tokOther = "other-dms-0123456789abcdef0123456789"
	cfg := testConfig()
	cfg.Tokens = append(cfg.Tokens, restapi.Token{Name: "other-dms", SHA256: restapi.HashToken(tokOther), OrganIDs: []string{hanoi}})
	hooks := &restapitest.Webhooks{}
	d := hooks.Add("in-0123456789abcdef0123456789abcdef", "https://dms.hanoi.example/hook", []string{hanoi}, restapi.WebhookFailed, 3, "HTTP 500")
	e := newEnvConfig(t, cfg, restapi.WithWebhooks(ownedWebhooks{hooks, "hanoi-dms"}))

	if w := e.get("/v1/webhooks/deliveries", tokHanoi); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), d.ID) {
		t.Fatalf("the owner's list: %d %s", w.Code, w.Body)
	}
	if w := e.get("/v1/webhooks/deliveries", tokOther); w.Code != http.StatusOK || strings.Contains(w.Body.String(), d.ID) || strings.Contains(w.Body.String(), "dms.hanoi.example") {
		t.Fatalf("another token for the same agency lists the delivery: %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "POST", target: "/v1/webhooks/deliveries/" + d.ID + "/retry", token: tokOther}); w.Code != http.StatusNotFound {
		t.Fatalf("another token retried the delivery: %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "POST", target: "/v1/webhooks/deliveries/" + d.ID + "/retry", token: tokHanoi}); w.Code != http.StatusAccepted {
		t.Fatalf("the owner's retry: %d %s", w.Code, w.Body)
	}
}
