package folder_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"truc.vn/truc/adapters/folder"
)

const itemID = "in-0123456789abcdef0123456789abcdef"

func TestParseStatusRequest(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  folder.StatusRequest
		field string // of the *RequestError, "" when valid
		rule  string
	}{
		{"minimal", `{"item":"` + itemID + `","code":"03"}`, folder.StatusRequest{Item: itemID, Code: "03"}, "", ""},
		{"every member", `{"item":"` + itemID + `","code":"05","description":"Đã xử lý","staff":"Văn thư"}`,
			folder.StatusRequest{Item: itemID, Code: "05", Description: "Đã xử lý", Staff: "Văn thư"}, "", ""},
		{"whitespace around", " \n{\"item\":\"" + itemID + "\",\"code\":\"01\"}\n", folder.StatusRequest{Item: itemID, Code: "01"}, "", ""},
		{"not JSON", `item=1`, folder.StatusRequest{}, "file", "not a JSON object"},
		{"an array", `[]`, folder.StatusRequest{}, "file", "not a JSON object"},
		{"unknown member", `{"item":"` + itemID + `","code":"03","x":1}`, folder.StatusRequest{}, `"x"`, "unknown member"},
		{"member in another case", `{"Item":"` + itemID + `","code":"03"}`, folder.StatusRequest{}, `"Item"`, "unknown member"},
		{"member twice", `{"item":"` + itemID + `","code":"03","code":"05"}`, folder.StatusRequest{}, "code", "given twice"},
		{"trailing data", `{"item":"` + itemID + `","code":"03"} {}`, folder.StatusRequest{}, "file", "data after"},
		{"code a number", `{"item":"` + itemID + `","code":3}`, folder.StatusRequest{}, "file", "code must be a string"},
		{"no item", `{"code":"03"}`, folder.StatusRequest{}, "item", "not an inbox item ID"},
		{"item upper case", `{"item":"` + strings.ToUpper(itemID) + `","code":"03"}`, folder.StatusRequest{}, "item", "not an inbox item ID"},
		{"item short", `{"item":"in-0123","code":"03"}`, folder.StatusRequest{}, "item", "not an inbox item ID"},
		{"no code", `{"item":"` + itemID + `"}`, folder.StatusRequest{}, "code", "two-digit"},
		{"code of one digit", `{"item":"` + itemID + `","code":"3"}`, folder.StatusRequest{}, "code", "two-digit"},
		{"code with letters", `{"item":"` + itemID + `","code":"0a"}`, folder.StatusRequest{}, "code", "two-digit"},
		{"not UTF-8", "{\"item\":\"" + itemID + "\",\"code\":\"03\",\"staff\":\"\xff\"}", folder.StatusRequest{}, "file", "not UTF-8"},
		{"control character in staff", `{"item":"` + itemID + `","code":"03","staff":"a\u0007b"}`, folder.StatusRequest{}, "staff", "control characters"},
		{"description too long", `{"item":"` + itemID + `","code":"03","description":"` + strings.Repeat("á", 2001) + `"}`, folder.StatusRequest{}, "description", "the limit is 4000"},
		{"file too large", `{"item":"` + itemID + `","code":"03","description":"` + strings.Repeat(" ", 70000) + `"}`, folder.StatusRequest{}, "file", "the limit is 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := folder.ParseStatusRequest([]byte(tt.in))
			if tt.field == "" {
				if err != nil || got != tt.want {
					t.Fatalf("= %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			var re *folder.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("= %+v, %v; want a *RequestError", got, err)
			}
			if re.Field != tt.field || !strings.Contains(re.Rule, tt.rule) {
				t.Errorf("field %q rule %q; want field %q, a rule with %q", re.Field, re.Rule, tt.field, tt.rule)
			}
		})
	}
}

func FuzzParseStatusRequest(f *testing.F) {
	f.Add([]byte(`{"item":"` + itemID + `","code":"03","description":"Đã xử lý","staff":"Văn thư"}`))
	f.Add([]byte(`{"item":"` + itemID + `","code":"03","code":"04"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := folder.ParseStatusRequest(b)
		if err != nil {
			var re *folder.RequestError
			if !errors.As(err, &re) || re.Field == "" || re.Rule == "" {
				t.Fatalf("error %v is not a *RequestError with a field and a rule", err)
			}
			return
		}
		if len(r.Item) != 35 || len(r.Code) != 2 {
			t.Fatalf("accepted %+v", r)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	ok := folder.Config{Root: "/srv/truc/folder", OrganIDs: []string{"000.00.00.G22"}}
	tests := []struct {
		name  string
		edit  func(c *folder.Config)
		field string // "" when valid
	}{
		{"defaults", func(c *folder.Config) {}, ""},
		{"every setting", func(c *folder.Config) {
			c.Client, c.Settle, c.Poll, c.Workers, c.MaxFileBytes = "dms-1", 5*time.Second, 500*time.Millisecond, 8, 1<<20
		}, ""},
		{"no settle", func(c *folder.Config) { c.Settle = folder.NoSettle }, ""},
		{"no root", func(c *folder.Config) { c.Root = "" }, "root"},
		{"relative root", func(c *folder.Config) { c.Root = "folder" }, "root"},
		{"no organs", func(c *folder.Config) { c.OrganIDs = nil }, "organ_ids"},
		{"bad organ", func(c *folder.Config) { c.OrganIDs = []string{"000.00..G22"} }, "organ_ids[0]"},
		{"organ twice", func(c *folder.Config) { c.OrganIDs = []string{"000.00.00.G22", "000.00.00.G22"} }, "organ_ids[1]"},
		{"bad client", func(c *folder.Config) { c.Client = "dms 1" }, "client"},
		{"settle too long", func(c *folder.Config) { c.Settle = 2 * time.Hour }, "settle"},
		{"poll too short", func(c *folder.Config) { c.Poll = time.Millisecond }, "poll"},
		{"poll too long", func(c *folder.Config) { c.Poll = time.Hour }, "poll"},
		{"too many workers", func(c *folder.Config) { c.Workers = 1000 }, "workers"},
		{"negative workers", func(c *folder.Config) { c.Workers = -1 }, "workers"},
		{"tiny file cap", func(c *folder.Config) { c.MaxFileBytes = 10 }, "max_file_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			c.OrganIDs = append([]string(nil), ok.OrganIDs...)
			tt.edit(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ce *folder.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("Validate = %v; want a *ConfigError on %s", err, tt.field)
			}
		})
	}
}
