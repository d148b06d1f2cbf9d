package vxp

import (
	"strings"
	"testing"
)

func TestUnder(t *testing.T) {
	tests := []struct {
		code, parent string
		want         bool
	}{
		{"000.00.31.H53", "000.00.00.H53", true},  // a district of the province
		{"000.12.31.H53", "000.00.00.H53", true},  // a unit of that district
		{"001.01.07.H53", "000.00.00.H53", true},  // a level-4 unit
		{"000.12.31.H53", "000.00.31.H53", true},  // inside the district
		{"001.12.31.H53", "000.12.31.H53", true},  // level 4 inside level 3
		{"000.12.30.H53", "000.00.31.H53", false}, // another district
		{"000.00.00.H53", "000.00.00.H53", false}, // not under itself
		{"000.00.00.H53", "000.00.31.H53", false}, // the parent of the parent
		{"000.00.31.H41", "000.00.00.H53", false}, // another province
		{"000.00.31", "000.00.00.H53", false},     // other group count
		{"000.05.31.H53", "000.05.00.H53", false}, // parent with a zero group between significant ones
		{"000.00.00.G22", "000.00.00.000", false}, // all-zero parent
		{"vxp.saas.03", "vxp.saas.02", false},
		{"999.010.01.H22", "00.22.W00", false},
		{"", "000.00.00.H53", false},
		{"000.00.31.H53", "", false},
		{"000.00.31.h53", "000.00.00.H53", false}, // codes compare exactly
	}
	for _, tt := range tests {
		if got := Under(tt.code, tt.parent); got != tt.want {
			t.Errorf("Under(%q, %q) = %v, want %v", tt.code, tt.parent, got, tt.want)
		}
	}
}

func TestParseRegistration(t *testing.T) {
	const good = `{"id":"","pcode":"000.00.31.H53","code":"000.05.31.H53","name":" UBND xã Lợi Thuận ","mail":"loithuan@tayninh.example.gov.vn","mobile":"0276 3870 000","fax":""}`
	tests := []struct {
		name, body string
		field      string // "" = valid
	}{
		{"SDK sample form", good, ""},
		{"unknown keys ignored", `{"code":"000.05.31.H53","name":"A","mail":"a@b.vn","extra":"x"}`, ""},
		{"not JSON", `{"code":`, "body"},
		{"number value", `{"code":"000.05.31.H53","name":"A","mail":"a@b.vn","mobile":333}`, "body"},
		{"key twice", `{"code":"000.05.31.H53","code":"000.06.31.H53","name":"A","mail":"a@b.vn"}`, "body"},
		{"SDK sample's broken JSON", `{"id":"","pcode":"00.22.W00","code":"999.010.01.H22","name":"Hà giang","mail":cc"","mobile":333"","fax":333""}`, "body"},
		{"no code", `{"name":"A","mail":"a@b.vn"}`, "code"},
		{"bad code", `{"code":"000 05","name":"A","mail":"a@b.vn"}`, "code"},
		{"bad pcode", `{"code":"000.05.31.H53","pcode":"x..y","name":"A","mail":"a@b.vn"}`, "pcode"},
		{"blank name", `{"code":"000.05.31.H53","name":"  ","mail":"a@b.vn"}`, "name"},
		{"name with a newline", `{"code":"000.05.31.H53","name":"A\nB","mail":"a@b.vn"}`, "name"},
		{"long name", `{"code":"000.05.31.H53","name":"` + strings.Repeat("á", 513) + `","mail":"a@b.vn"}`, "name"},
		{"no mail", `{"code":"000.05.31.H53","name":"A"}`, "mail"},
		{"mail without domain dot", `{"code":"000.05.31.H53","name":"A","mail":"a@b"}`, "mail"},
		{"mail with a display name", `{"code":"000.05.31.H53","name":"A","mail":"A <a@b.vn>"}`, "mail"},
		{"mail without @", `{"code":"000.05.31.H53","name":"A","mail":"cc"}`, "mail"},
		{"long mobile", `{"code":"000.05.31.H53","name":"A","mail":"a@b.vn","mobile":"` + strings.Repeat("9", 65) + `"}`, "mobile"},
		{"fax with control character", `{"code":"000.05.31.H53","name":"A","mail":"a@b.vn","fax":"1\u0007"}`, "fax"},
		{"long id", `{"id":"` + strings.Repeat("1", 65) + `","code":"000.05.31.H53","name":"A","mail":"a@b.vn"}`, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, rj := parseRegistration([]byte(tt.body))
			if tt.field == "" {
				if rj != nil {
					t.Fatalf("refused: %s", rj.desc())
				}
				return
			}
			if rj == nil || rj.field != tt.field || rj.code != CodeBadRequest {
				t.Fatalf("got %+v, %+v; want a refusal on %s", reg, rj, tt.field)
			}
		})
	}
	reg, _ := parseRegistration([]byte(good))
	want := AgencyRegistration{ParentCode: "000.00.31.H53", Code: "000.05.31.H53", Name: "UBND xã Lợi Thuận", Mail: "loithuan@tayninh.example.gov.vn", Mobile: "0276 3870 000"}
	if reg != want {
		t.Fatalf("parsed %+v, want %+v", reg, want)
	}
}
