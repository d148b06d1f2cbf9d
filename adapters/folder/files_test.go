package folder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFitName(t *testing.T) {
	long := strings.Repeat("Công văn ", 40) + ".edxml"
	tests := []struct {
		name string
		in   string
		same bool // returned unchanged
	}{
		{"short", "a.edxml", true},
		{"exactly the limit", strings.Repeat("a", maxPlaced), true},
		{"one over", strings.Repeat("a", maxPlaced+1), false},
		{"long UTF-8", long, false},
		{"long not UTF-8", strings.Repeat("\xff", 300) + ".edxml", false},
		{"long with a long extension", "a." + strings.Repeat("b", 300), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fitName(tt.in)
			if (got == tt.in) != tt.same {
				t.Fatalf("fitName changed=%v, want %v: %q", got != tt.in, !tt.same, got)
			}
			if len(got) > maxPlaced {
				t.Errorf("%d bytes, over %d", len(got), maxPlaced)
			}
			if utf8.ValidString(tt.in) && !utf8.ValidString(got) {
				t.Errorf("a UTF-8 name became %q", got)
			}
			if !tt.same && filepath.Ext(tt.in) == ".edxml" && !strings.HasSuffix(got, ".edxml") {
				t.Errorf("the extension is lost: %q", got)
			}
			if strings.ContainsAny(got, "/\x00") {
				t.Errorf("%q is not a file name", got)
			}
		})
	}
	if fitName(long) == fitName(long+"x") {
		t.Error("two long names sharing a prefix got the same name")
	}
}

func FuzzFitName(f *testing.F) {
	f.Add("a.edxml")
	f.Add(strings.Repeat("Công văn ", 40) + ".edxml")
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" || strings.ContainsAny(name, "/\x00") {
			return
		}
		got := fitName(name)
		if len(got) > maxPlaced || got == "" || strings.ContainsAny(got, "/\x00") {
			t.Fatalf("fitName(%q) = %q", name, got)
		}
		if utf8.ValidString(name) && !utf8.ValidString(got) {
			t.Fatalf("fitName(%q) = %q is not UTF-8", name, got)
		}
		if len(name) <= maxPlaced && got != name {
			t.Fatalf("fitName(%q) changed a name that fits", name)
		}
		for n := 2; n < 5; n++ {
			if c := withCounter(got, n); len(c)+len(failedSuffix) > nameMax {
				t.Fatalf("%q with its counter and sidecar is %d bytes", c, len(c)+len(failedSuffix))
			}
		}
	})
}

func TestPlace(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ours := func(b []byte) bool { return string(b) == "ours" }
	check := func(want string, wantHave bool) {
		t.Helper()
		got, have, err := place(dir, "a.edxml", ".json", ours)
		if err != nil || got != want || have != wantHave {
			t.Fatalf("place = %q, %v, %v; want %q, %v", got, have, err, want, wantHave)
		}
	}
	check("a.edxml", false)
	write("a.edxml", "x")
	check("a~2.edxml", false)
	write("a~2.edxml.json", "theirs")
	check("a~3.edxml", false)
	write("a~3.edxml.json", "ours")
	check("a~3.edxml", true)
}
