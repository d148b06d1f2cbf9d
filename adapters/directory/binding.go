package directory

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"truc.vn/truc/edoc"
	"truc.vn/truc/signing"
)

func isOrganID(s string) bool { return edoc.IsOrganID(s) }

func organIDRule(s string) string {
	if s == "" {
		return "required: an OrganId"
	}
	return fmt.Sprintf("%q is not an OrganId (at most %d characters, groups of [0-9A-Za-z] joined by '.')", clip(s), edoc.MaxOrganIDLength)
}

// bindingsDoc is a bindings file holding the given entries.
type bindingsDoc struct {
	Version  int       `yaml:"version"`
	Bindings []Binding `yaml:"bindings"`
}

// compileBinding validates b with signing.ParseBindings, the only reader
// of the bindings format, by handing it a one-entry bindings file, and
// returns the compiled entry. where names b in errors.
func compileBinding(b Binding, where string) (*bindingEntry, *Error) {
	if !isOrganID(b.OrganID) {
		// Checked here so that the organ_id is safe to quote and the
		// message of ParseBindings always has the shape singleEntryPrefix
		// expects.
		return nil, fieldErr(where+".organ_id", "%s", organIDRule(b.OrganID))
	}
	data, err := yaml.Marshal(bindingsDoc{Version: 1, Bindings: []Binding{b}})
	if err != nil {
		return nil, fieldErr(where, "cannot encode the binding: %v", err)
	}
	compiled, err := signing.ParseBindings(data)
	if err != nil {
		msg := singleEntryPrefix.ReplaceAllString(err.Error(), "")
		if m := bindingField.FindStringSubmatch(msg); m != nil {
			return nil, fieldErr(where+"."+strings.ReplaceAll(m[1], ": ", "."), "%s", m[2])
		}
		return nil, fieldErr(where, "%s", msg)
	}
	return &bindingEntry{Binding: cloneBinding(b), compiled: compiled}, nil
}

// bindingField matches the field ParseBindings names at the start of its
// message once singleEntryPrefix is removed ("subjects[0]: cn: must not be
// empty").
var bindingField = regexp.MustCompile(`^((?:certificates|subjects|not_after|name)(?:\[\d+\])?(?:: (?:issuer_sha256|cn|ou|o|l|st|c|serial_number|email))?): (.+)$`)

// compileAll compiles every binding with one signing.ParseBindings call,
// and returns nil when there are none or when any of them is refused
// (compileBinding then finds which).
func compileAll(bs []Binding) *signing.Bindings {
	if len(bs) == 0 {
		return nil
	}
	for _, b := range bs {
		if !isOrganID(b.OrganID) {
			return nil
		}
	}
	data, err := yaml.Marshal(bindingsDoc{Version: 1, Bindings: bs})
	if err != nil {
		return nil
	}
	compiled, err := signing.ParseBindings(data)
	if err != nil || compiled.Len() != len(bs) {
		return nil
	}
	return compiled
}

// singleEntryPrefix is what ParseBindings puts before the problem in a
// one-entry file: the line and the entry are those of the generated file,
// which mean nothing to the reader.
var singleEntryPrefix = regexp.MustCompile(`^bindings: line \d+: bindings\[0\](?: \(organ_id [0-9A-Za-z.]+\))?(?:: )?`)

// clip shortens a value quoted in an error message.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max]) + "…"
}
