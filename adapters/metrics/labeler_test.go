package metrics

import (
	"fmt"
	"testing"
)

func TestLabelerReservesKnownSlots(t *testing.T) {
	tests := []struct {
		name      string
		known     []string
		max       int
		wantExtra int
	}{
		{"reasons", knownReasons, MaxLabelValues, MaxLabelValues - 26}, // 29 codes, 3 shared by bus and signing
		{"types", knownTypes, 0, 0},
		{"known fill the cap", []string{"a", "b"}, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLabeler(tt.known, tt.max)
			extra := 0
			for i := range 1000 {
				if v := fmt.Sprintf("x-%d", i); l.label(v) == v {
					extra++
				}
			}
			if extra != tt.wantExtra {
				t.Errorf("%d unknown values admitted, want %d", extra, tt.wantExtra)
			}
			for _, k := range tt.known {
				if got := l.label(k); got != k {
					t.Errorf("known %q labelled %q", k, got)
				}
			}
			if got := l.label("x-0"); tt.wantExtra > 0 && got != "x-0" {
				t.Errorf("an admitted value is labelled %q the second time", got)
			}
		})
	}
}
