package bus

import (
	"testing"
	"time"
)

func TestRedeliveryBackoff(t *testing.T) {
	a := &Axis{cfg: AxisConfig{RedeliverAfter: 5 * time.Minute}}
	for _, c := range []struct {
		attempts int
		want     time.Duration
	}{
		{0, 5 * time.Minute}, {1, 5 * time.Minute}, {2, 10 * time.Minute}, {3, 20 * time.Minute},
		{4, 40 * time.Minute}, {5, time.Hour}, {50, time.Hour},
	} {
		if got := a.redeliveryBackoff(c.attempts); got != c.want {
			t.Errorf("after %d attempts: %s, want %s", c.attempts, got, c.want)
		}
	}
	long := &Axis{cfg: AxisConfig{RedeliverAfter: 2 * time.Hour}}
	if got := long.redeliveryBackoff(9); got != 2*time.Hour {
		t.Errorf("with RedeliverAfter above the cap: %s, want 2h", got)
	}
}
