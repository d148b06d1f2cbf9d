package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"truc.vn/truc/adapters/folder"
)

func TestFolderSection(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c folder.Config)
		err   string // a substring of the error; "" when valid
	}{
		{"absent", ``, nil, ""},
		{"defaults", "root: dms\norgan_ids: [000.00.00.H26]\n", func(t *testing.T, c folder.Config) {
			if c.Root != "/etc/truc/dms" || c.Settle != 0 || c.NoTake || c.Poll != 0 {
				t.Errorf("config %+v", c)
			}
		}, ""},
		{"every key", "root: /srv/dms\norgan_ids: [000.00.00.H26, 000.00.01.H26]\nclient: dms-hanoi\nsettle: 5s\npoll: 250ms\ntake_on_write: false\nworkers: 2\n", func(t *testing.T, c folder.Config) {
			if c.Root != "/srv/dms" || len(c.OrganIDs) != 2 || c.Client != "dms-hanoi" || c.Settle != 5*time.Second ||
				c.Poll != 250*time.Millisecond || !c.NoTake || c.Workers != 2 {
				t.Errorf("config %+v", c)
			}
		}, ""},
		{"settle 0 takes files at once", "root: /srv/dms\norgan_ids: [000.00.00.H26]\nsettle: 0s\n", func(t *testing.T, c folder.Config) {
			if c.Settle != folder.NoSettle {
				t.Errorf("settle %v, want NoSettle", c.Settle)
			}
		}, ""},
		{"take_on_write true", "root: /srv/dms\norgan_ids: [000.00.00.H26]\ntake_on_write: true\n", func(t *testing.T, c folder.Config) {
			if c.NoTake {
				t.Error("NoTake with take_on_write: true")
			}
		}, ""},
		{"organ_ids without root", "organ_ids: [000.00.00.H26]\n", nil, "folder.root: required"},
		{"no organ_ids", "root: /srv/dms\n", nil, "folder.organ_ids: at least one"},
		{"bad organ id", "root: /srv/dms\norgan_ids: [H26..]\n", nil, "folder.organ_ids[0]"},
		{"negative settle", "root: /srv/dms\norgan_ids: [000.00.00.H26]\nsettle: -1s\n", nil, "folder.settle"},
		{"poll too short", "root: /srv/dms\norgan_ids: [000.00.00.H26]\npoll: 1ms\n", nil, "folder.poll"},
		{"bad client", "root: /srv/dms\norgan_ids: [000.00.00.H26]\nclient: a b\n", nil, "folder.client"},
		{"unknown key", "root: /srv/dms\norgan_ids: [000.00.00.H26]\nsetle: 1s\n", nil, "setle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s folderSection
			dec := yaml.NewDecoder(bytes.NewReader([]byte(tt.yaml)))
			dec.KnownFields(true)
			err := dec.Decode(&s)
			if err != nil && !errors.Is(err, io.EOF) {
				if tt.err == "" || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("decoding: %v", err)
				}
				return
			}
			s.resolve("/etc/truc/edge.yaml")
			errs := s.validate()
			if tt.err != "" {
				if len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.err) {
					t.Fatalf("validate = %v; want one error with %q", errs, tt.err)
				}
				return
			}
			if len(errs) != 0 {
				t.Fatalf("validate = %v", errs)
			}
			if tt.check != nil {
				tt.check(t, s.config())
			}
		})
	}
}
