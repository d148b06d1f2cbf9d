package vxp

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"truc.vn/truc/edoc"
)

// Under reports whether the agency code lies below parent in the directory
// hierarchy that OrganIds encode (spec §4.1): the most significant group
// is on the right, and a group made only of zeros means "not applicable",
// so 000.00.31.H53 is the district unit 31 of province H53 and
// 000.12.31.H53 a unit inside it.
//
// code is under parent when both have the same number of dot-separated
// groups, every group of parent that is not all zeros equals the group of
// code at the same place, parent's non-zero groups all lie to the right of
// its zero groups, and code has a group that is not all zeros where parent
// has one that is (so code differs from parent, also in the width of its
// zero groups: 0.00.00.H53 is not under 000.00.00.H53). So everything of province
// H53 (000.xx.yy.H53, xxx.yy.zz.H53 …) is under 000.00.00.H53, and
// 001.12.31.H53 is under 000.12.31.H53, but 000.12.30.H53 is not under
// 000.00.31.H53, and no code is under itself.
//
// Codes that do not follow the grammar (vxp.saas.02, 00.22.W00) are under
// nothing but what the rule above allows; list such parents' children
// explicitly as parent codes if they must be managed.
func Under(code, parent string) bool {
	if code == parent || !edoc.IsOrganID(code) || !edoc.IsOrganID(parent) {
		return false
	}
	cg, pg := strings.Split(code, "."), strings.Split(parent, ".")
	if len(cg) != len(pg) {
		return false
	}
	// From the right: parent's significant groups must match, then only
	// zero groups may follow in parent.
	i := len(pg) - 1
	for ; i >= 0 && !isZeroGroup(pg[i]); i-- {
		if pg[i] != cg[i] {
			return false
		}
	}
	if i == len(pg)-1 {
		return false // parent's most significant group is zeros: not a parent
	}
	// code must be significant somewhere parent is not: a zero group
	// means "not applicable" whatever its width, so 0.00.00.H53 is
	// 000.00.00.H53 itself, not a unit below it.
	below := false
	for ; i >= 0; i-- {
		if !isZeroGroup(pg[i]) {
			return false // a significant group left of a zero group
		}
		if !isZeroGroup(cg[i]) {
			below = true
		}
	}
	return below
}

// underAny reports whether code is under one of parents.
func underAny(code string, parents []string) bool {
	for _, p := range parents {
		if Under(code, p) {
			return true
		}
	}
	return false
}

func isZeroGroup(g string) bool { return strings.Trim(g, "0") == "" }

func allZeroGroups(code string) bool {
	for g := range strings.SplitSeq(code, ".") {
		if !isZeroGroup(g) {
			return false
		}
	}
	return true
}

// Limits on registerAgency fields. Generous: they exist to keep hostile
// input out of the directory, not to second-guess real agencies.
const (
	maxAgencyNameLength  = 512
	maxAgencyIDLength    = 64
	maxAgencyMailLength  = 254 // RFC 5321 path limit
	maxAgencyPhoneLength = 64
)

// parseRegistration reads and validates the registerAgency body: a JSON
// object of strings with the keys id, pcode, code, name, mail, mobile and
// fax. Other keys are ignored; a key given twice is refused.
func parseRegistration(body []byte) (AgencyRegistration, *rejection) {
	obj, err := parseFlatObject(body, maxRegistrationKeys)
	if err != nil {
		return AgencyRegistration{}, reject(CodeBadRequest, "body", "json", "the registerAgency body must be a JSON object of strings: %v", err)
	}
	reg := AgencyRegistration{
		ID:         obj.get("id"),
		ParentCode: obj.get("pcode"),
		Code:       obj.get("code"),
		Name:       strings.TrimSpace(obj.get("name")),
		Mail:       obj.get("mail"),
		Mobile:     strings.TrimSpace(obj.get("mobile")),
		Fax:        strings.TrimSpace(obj.get("fax")),
	}
	switch {
	case reg.Code == "":
		return reg, reject(CodeBadRequest, "code", "required", "the agency code is required")
	case !edoc.IsOrganID(reg.Code):
		return reg, reject(CodeBadRequest, "code", "organid", "%s is not an OrganId (dot-separated groups of letters and digits, at most %d characters)", quote(reg.Code), edoc.MaxOrganIDLength)
	case reg.ParentCode != "" && !edoc.IsOrganID(reg.ParentCode):
		return reg, reject(CodeBadRequest, "pcode", "organid", "%s is not an OrganId", quote(reg.ParentCode))
	case reg.Name == "":
		return reg, reject(CodeBadRequest, "name", "required", "the agency name is required")
	case utf8.RuneCountInString(reg.Name) > maxAgencyNameLength:
		return reg, reject(CodeBadRequest, "name", "max-length", "longer than %d characters", maxAgencyNameLength)
	case hasControl(reg.Name):
		return reg, reject(CodeBadRequest, "name", "control-character", "must not contain control characters")
	case reg.Mail == "":
		return reg, reject(CodeBadRequest, "mail", "required", "the agency mail address is required")
	case !isMailAddress(reg.Mail):
		return reg, reject(CodeBadRequest, "mail", "mail", "%s is not a mail address (local@domain, no display name)", quote(reg.Mail))
	case len(reg.ID) > maxAgencyIDLength || hasControl(reg.ID):
		return reg, reject(CodeBadRequest, "id", "format", "at most %d characters, no control characters", maxAgencyIDLength)
	case len(reg.Mobile) > maxAgencyPhoneLength || hasControl(reg.Mobile):
		return reg, reject(CodeBadRequest, "mobile", "format", "at most %d characters, no control characters", maxAgencyPhoneLength)
	case len(reg.Fax) > maxAgencyPhoneLength || hasControl(reg.Fax):
		return reg, reject(CodeBadRequest, "fax", "format", "at most %d characters, no control characters", maxAgencyPhoneLength)
	}
	return reg, nil
}

// maxRegistrationKeys bounds the keys of a registerAgency body.
const maxRegistrationKeys = 32

// isMailAddress reports whether s is a bare address that net/mail reads
// back unchanged: local@domain, with a dot in the domain.
func isMailAddress(s string) bool {
	if len(s) > maxAgencyMailLength || hasControl(s) {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && !strings.HasSuffix(s, ".")
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) })
}

// quote quotes a client-given value for an ErrorDesc in ASCII: the SDK
// reads a successful sendEdoc answer as US-ASCII.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "…"
	}
	return fmt.Sprintf("%+q", s)
}
