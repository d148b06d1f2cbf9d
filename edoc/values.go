package edoc

import (
	"errors"
	"fmt"
	"time"
)

// ICT is Vietnam's time zone (UTC+7, no daylight saving). edXML dates and
// timestamps carry no zone; they are read and written in ICT.
var ICT = time.FixedZone("ICT", 7*3600)

// Layouts of edXML dates and timestamps (spec §2.7).
const (
	DateLayout      = "2006/01/02"
	TimestampLayout = "2006/01/02 15:04:05"
)

// Date is a calendar date written yyyy/MM/dd (PromulgationDate, DueDate).
// Raw is the text as received, trimmed; "" means absent. A Date that does
// not parse is kept as it is so that Validate can report it: reading a
// package never fails because of a bad date.
type Date struct {
	Raw string
}

// DateOf returns the calendar date of t in Vietnam time.
func DateOf(t time.Time) Date { return Date{Raw: t.In(ICT).Format(DateLayout)} }

// IsZero reports whether the date is absent.
func (d Date) IsZero() bool { return d.Raw == "" }

// String returns the date as written.
func (d Date) String() string { return d.Raw }

// Time returns midnight of the date in ICT. It also accepts the timestamp
// form yyyy/MM/dd HH:mm:ss, which some producers write in date fields, and
// then keeps only the date. It fails for an absent date, another layout
// or a day that does not exist in the calendar.
func (d Date) Time() (time.Time, error) {
	switch len(d.Raw) {
	case len(DateLayout):
		return parseFixed(d.Raw, DateLayout)
	case len(TimestampLayout):
		t, err := parseFixed(d.Raw, TimestampLayout)
		if err != nil {
			return time.Time{}, err
		}
		y, m, dd := t.Date()
		return time.Date(y, m, dd, 0, 0, 0, 0, ICT), nil
	case 0:
		return time.Time{}, errors.New("date is empty")
	}
	return time.Time{}, fmt.Errorf("date %q is not in the form yyyy/MM/dd", d.Raw)
}

// Timestamp is a local time written yyyy/MM/dd HH:mm:ss in Vietnam time
// (TraceHeader and status Timestamp). Raw is the text as received, trimmed;
// "" means absent. Like Date, a bad value is kept for Validate to report.
type Timestamp struct {
	Raw string
}

// TimestampOf returns t in Vietnam time, to the second.
func TimestampOf(t time.Time) Timestamp {
	return Timestamp{Raw: t.In(ICT).Format(TimestampLayout)}
}

// IsZero reports whether the timestamp is absent.
func (ts Timestamp) IsZero() bool { return ts.Raw == "" }

// String returns the timestamp as written.
func (ts Timestamp) String() string { return ts.Raw }

// Time returns the instant, read in ICT. It fails for an absent value,
// another layout, or a date or time of day that does not exist.
func (ts Timestamp) Time() (time.Time, error) {
	if ts.Raw == "" {
		return time.Time{}, errors.New("timestamp is empty")
	}
	if len(ts.Raw) != len(TimestampLayout) {
		return time.Time{}, fmt.Errorf("timestamp %q is not in the form yyyy/MM/dd HH:mm:ss", ts.Raw)
	}
	return parseFixed(ts.Raw, TimestampLayout)
}

// parseFixed parses s, which has the length of layout, requiring a digit
// wherever layout has one (time.Parse accepts one-digit hours and signs)
// and a real calendar day in a year from 1.
func parseFixed(s, layout string) (time.Time, error) {
	for i := 0; i < len(layout); i++ {
		l, c := layout[i], s[i]
		if l >= '0' && l <= '9' {
			if c < '0' || c > '9' {
				return time.Time{}, fmt.Errorf("%q is not in the form %s", s, humanLayout(layout))
			}
		} else if c != l {
			return time.Time{}, fmt.Errorf("%q is not in the form %s", s, humanLayout(layout))
		}
	}
	t, err := time.ParseInLocation(layout, s, ICT)
	if err != nil {
		var pe *time.ParseError
		if errors.As(err, &pe) && pe.Message != "" {
			return time.Time{}, fmt.Errorf("%q is not a real date or time%s", s, pe.Message)
		}
		return time.Time{}, fmt.Errorf("%q is not a real date or time", s)
	}
	if t.Year() < 1 {
		return time.Time{}, fmt.Errorf("%q has year 0, which does not exist", s)
	}
	return t, nil
}

func humanLayout(layout string) string {
	if layout == DateLayout {
		return "yyyy/MM/dd"
	}
	return "yyyy/MM/dd HH:mm:ss"
}

// StatusCode is the two-digit code of a status package (spec §3.2). Codes
// read from a package are normalised by ParseStatusCode: "14", which one
// SDK sends for "agrees to the update or recall", becomes
// StatusChangeAccepted ("15"). The values are wire constants and never
// change.
type StatusCode string

// Status codes known from the official samples.
const (
	StatusArrived         StatusCode = "01" // đã đến: the receiving software has it, no clerk has looked at it
	StatusRejected        StatusCode = "02" // từ chối: the clerk refuses the document (reason in Description)
	StatusAccepted        StatusCode = "03" // đã tiếp nhận: registered as an incoming document
	StatusAssigned        StatusCode = "04" // phân công: a leader assigned who handles it
	StatusProcessing      StatusCode = "05" // đang xử lý: being processed
	StatusFinished        StatusCode = "06" // hoàn thành: processing finished
	StatusRecallRequested StatusCode = "13" // lấy lại: the sender asks to take the document back
	StatusChangeAccepted  StatusCode = "15" // the receiver agrees to an update or recall
	StatusChangeRejected  StatusCode = "16" // the receiver refuses an update or recall
)

// statusSynonym is the code that one SDK writes for StatusChangeAccepted.
const statusSynonym = "14"

// ParseStatusCode returns the code for raw text read from a package,
// normalising the synonym "14" to StatusChangeAccepted. Any other text is
// returned unchanged (trimmed of XML whitespace); Known tells whether it
// means anything.
func ParseStatusCode(raw string) StatusCode {
	raw = trimSpace(raw)
	if raw == statusSynonym {
		return StatusChangeAccepted
	}
	return StatusCode(raw)
}

var statusMeanings = map[StatusCode]string{
	StatusArrived:         "arrived (not yet handled by a clerk)",
	StatusRejected:        "rejected by the receiving clerk",
	StatusAccepted:        "accepted and registered",
	StatusAssigned:        "assigned to a handler",
	StatusProcessing:      "being processed",
	StatusFinished:        "processing finished",
	StatusRecallRequested: "sender requests recall",
	StatusChangeAccepted:  "update or recall accepted",
	StatusChangeRejected:  "update or recall refused",
}

// Known reports whether c is one of the status codes above.
func (c StatusCode) Known() bool { _, ok := statusMeanings[c]; return ok }

// Meaning is a short English description of a known code, "" otherwise.
func (c StatusCode) Meaning() string { return statusMeanings[c] }

// BusinessDocType is Bussiness/BussinessDocType: what a document package
// does (spec §2.4). A document without a Bussiness block is a new one. The
// values are wire constants and never change.
type BusinessDocType string

// Business document types.
const (
	BusinessNew     BusinessDocType = "0" // văn bản điện tử mới
	BusinessRevoke  BusinessDocType = "1" // thu hồi: revokes an earlier document
	BusinessUpdate  BusinessDocType = "2" // cập nhật: updates a document (same DocumentId)
	BusinessReplace BusinessDocType = "3" // văn bản thay thế: replaces earlier documents
)

var businessMeanings = map[BusinessDocType]string{
	BusinessNew:     "new document",
	BusinessRevoke:  "revocation",
	BusinessUpdate:  "update",
	BusinessReplace: "replacement",
}

// Known reports whether t is one of the four business types.
func (t BusinessDocType) Known() bool { _, ok := businessMeanings[t]; return ok }

// Meaning is a short English description of a known type, "" otherwise.
func (t BusinessDocType) Meaning() string { return businessMeanings[t] }

// Priority is OtherInfo/Priority, the urgency of a document. The meanings
// follow the hub validators in use (spec §2.3); the QCVN tables that define
// them were not available.
type Priority string

// Priorities.
const (
	PriorityNormal         Priority = "0" // thường
	PriorityUrgent         Priority = "1" // khẩn
	PriorityVeryUrgent     Priority = "2" // thượng khẩn
	PriorityFlash          Priority = "3" // hỏa tốc
	PriorityFlashScheduled Priority = "4" // hỏa tốc hẹn giờ
)

var priorityMeanings = map[Priority]string{
	PriorityNormal:         "normal",
	PriorityUrgent:         "urgent",
	PriorityVeryUrgent:     "very urgent",
	PriorityFlash:          "flash",
	PriorityFlashScheduled: "flash, scheduled",
}

// Known reports whether p is one of the five priorities.
func (p Priority) Known() bool { _, ok := priorityMeanings[p]; return ok }

// Meaning is a short English description of a known priority, "" otherwise.
func (p Priority) Meaning() string { return priorityMeanings[p] }

// MaxOrganIDLength is the longest OrganId allowed since amendment 1:2022
// of QCVN 102:2016.
const MaxOrganIDLength = 35

// IsOrganID reports whether id follows the lenient OrganId grammar of spec
// §4.1: groups of ASCII letters and digits separated by single dots, at
// most MaxOrganIDLength characters. Identifiers seen on the national axis
// such as "vxp.saas.03" and "01.02.G22" pass.
func IsOrganID(id string) bool {
	if id == "" || len(id) > MaxOrganIDLength {
		return false
	}
	group := 0
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
			group++
		case c == '.' && group > 0:
			group = 0
		default:
			return false
		}
	}
	return group > 0
}

// IsQCVNOrganID reports whether id has the strict 13-character form of the
// original QCVN 102:2016, NNN.NN.NN.XNN (for example 000.00.00.G22).
func IsQCVNOrganID(id string) bool {
	const form = "999.99.99.A99"
	if len(id) != len(form) {
		return false
	}
	for i := 0; i < len(form); i++ {
		c := id[i]
		switch form[i] {
		case '9':
			if c < '0' || c > '9' {
				return false
			}
		case 'A':
			if c < 'A' || c > 'Z' {
				return false
			}
		default:
			if c != form[i] {
				return false
			}
		}
	}
	return true
}

// trimSpace trims XML whitespace (space, tab, CR, LF) only: other Unicode
// spaces are content.
func trimSpace(s string) string {
	i, j := 0, len(s)
	for i < j && isXMLSpace(s[i]) {
		i++
	}
	for j > i && isXMLSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
