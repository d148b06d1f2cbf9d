package restapi_test

import (
	"truc.vn/truc/adapters/restapi"
	"truc.vn/truc/bus"
)

// The edge is the Backend the API is written for.
var _ restapi.Backend = (*bus.Edge)(nil)
