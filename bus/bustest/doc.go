// Package bustest holds the conformance suites that every implementation of
// a bus interface runs from its own tests, so that each adapter is held to
// one bar instead of inventing its own tests:
//
//	func TestTransport(t *testing.T) {
//		bustest.TestTransport(t, func(t *testing.T) bustest.Harness { ... })
//	}
//
//	func TestLog(t *testing.T) {
//		bustest.TestLog(t, func(t *testing.T) bustest.LogHarness { ... })
//	}
//
// The suites test behaviour through the bus interfaces only, against the
// real backing system (a real Kafka-protocol broker, a real database file):
// never a mock of it.
//
// # Caveats
//
// The suites need a few things the interfaces do not offer (creating a
// topic, writing a malformed record, reopening a log, the keys that verify
// its checkpoints); the harnesses supply them. Crash
// behaviour across a kill -9 of a separate process cannot be expressed
// through the interface and is left to each adapter's own tests.
package bustest
