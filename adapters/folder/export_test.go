package folder

// Internals the external tests reach for, to stage a crash at a chosen
// point.
var (
	IdempotencyKey = idempotencyKey
	IntentName     = intentName
	FitName        = fitName
)

type StatusIntent = statusIntent
