package edoc

import (
	"testing"
	"time"
)

func TestDate(t *testing.T) {
	cases := []struct {
		raw  string
		want string // yyyy-mm-dd, "" for an error
	}{
		{"2015/09/30", "2015-09-30"},
		{"2024/02/29", "2024-02-29"},          // leap year
		{"2018/09/28 17:25:11", "2018-09-28"}, // timestamp form in a date field
		{"2023/02/29", ""},                    // not a leap year
		{"2014/02/30", ""},
		{"2015/13/01", ""},
		{"2015/00/10", ""},
		{"2015/09/31", ""},
		{"0000/01/01", ""}, // there is no year 0
		{"2015-09-30", ""},
		{"2015/9/30", ""},
		{"15/09/2015", ""},
		{"2015/09/3a", ""},
		{"+015/09/30", ""},
		{"2018/09/28 25:00:00", ""},
		{"", ""},
	}
	for _, c := range cases {
		d := Date{Raw: c.raw}
		got, err := d.Time()
		switch {
		case c.want == "" && err == nil:
			t.Errorf("Date(%q).Time() = %v, want an error", c.raw, got)
		case c.want != "" && err != nil:
			t.Errorf("Date(%q).Time(): %v", c.raw, err)
		case c.want != "" && (got.Format("2006-01-02") != c.want || got.Location() != ICT || got.Hour() != 0):
			t.Errorf("Date(%q).Time() = %v, want midnight ICT of %s", c.raw, got, c.want)
		}
	}
}

func TestTimestamp(t *testing.T) {
	cases := []struct {
		raw  string
		want string // RFC 3339 in UTC, "" for an error
	}{
		{"2018/09/28 17:25:11", "2018-09-28T10:25:11Z"},
		{"2015/09/20 00:00:00", "2015-09-19T17:00:00Z"},
		{"2024/02/29 23:59:59", "2024-02-29T16:59:59Z"},
		{"2018/09/28", ""}, // a date is not a timestamp
		{"2018/09/28 24:00:00", ""},
		{"2018/09/28 23:60:00", ""},
		{"2018/09/28 23:59:60", ""},
		{"2018/09/28  7:25:11", ""},
		{"2018/09/28T17:25:11", ""},
		{"2018/02/30 10:00:00", ""},
		{"", ""},
	}
	for _, c := range cases {
		got, err := Timestamp{Raw: c.raw}.Time()
		switch {
		case c.want == "" && err == nil:
			t.Errorf("Timestamp(%q).Time() = %v, want an error", c.raw, got)
		case c.want != "" && err != nil:
			t.Errorf("Timestamp(%q).Time(): %v", c.raw, err)
		case c.want != "" && got.UTC().Format(time.RFC3339) != c.want:
			t.Errorf("Timestamp(%q).Time() = %v, want %s", c.raw, got.UTC(), c.want)
		}
	}
}

func TestDateAndTimestampOf(t *testing.T) {
	// 20:30 UTC is already the next day in Vietnam.
	at := time.Date(2024, 12, 31, 20, 30, 15, 999, time.UTC)
	if got := DateOf(at).Raw; got != "2025/01/01" {
		t.Errorf("DateOf = %q", got)
	}
	if got := TimestampOf(at).Raw; got != "2025/01/01 03:30:15" {
		t.Errorf("TimestampOf = %q", got)
	}
	back, err := TimestampOf(at).Time()
	if err != nil || !back.Equal(at.Truncate(time.Second)) {
		t.Errorf("TimestampOf(at).Time() = %v, %v; want %v", back, err, at.Truncate(time.Second))
	}
}

func TestOrganID(t *testing.T) {
	cases := []struct {
		id              string
		lenient, strict bool
	}{
		{"000.00.00.G22", true, true},
		{"000.12.31.H53", true, true},
		{"001.01.07.H53", true, true},
		{"28.22.H17", true, false},
		{"01.02.G22", true, false},
		{"vxp.saas.03", true, false},
		{"001.00.20.TT2", true, false},
		{"999.010.01.H22", true, false},
		{"00.22.W00", true, false},
		{"G22", true, false},
		{"000.00.00.g22", true, false},
		{"0102030405", true, false},                            // an enterprise tax code
		{"A.B.C.D.E.F.G.H.I.J.K.L.M.N.O.P.Q.R", true, false},   // exactly 35
		{"A.B.C.D.E.F.G.H.I.J.K.L.M.N.O.P.Q.RS", false, false}, // 36
		{"", false, false},
		{".000.00.00.G22", false, false},
		{"000.00.00.G22.", false, false},
		{"000..00.G22", false, false},
		{"000.00.00.G22 ", false, false},
		{"000-00-00-G22", false, false},
		{"000.00.00.Ġ22", false, false},
		{"null", true, false},
	}
	for _, c := range cases {
		if got := IsOrganID(c.id); got != c.lenient {
			t.Errorf("IsOrganID(%q) = %v", c.id, got)
		}
		if got := IsQCVNOrganID(c.id); got != c.strict {
			t.Errorf("IsQCVNOrganID(%q) = %v", c.id, got)
		}
	}
}

func TestStatusCode(t *testing.T) {
	cases := []struct {
		raw   string
		want  StatusCode
		known bool
	}{
		{"01", StatusArrived, true},
		{"02", StatusRejected, true},
		{"03", StatusAccepted, true},
		{"04", StatusAssigned, true},
		{"05", StatusProcessing, true},
		{"06", StatusFinished, true},
		{"13", StatusRecallRequested, true},
		{"14", StatusChangeAccepted, true}, // the .NET SDK's synonym
		{" 14\n", StatusChangeAccepted, true},
		{"15", StatusChangeAccepted, true},
		{"16", StatusChangeRejected, true},
		{"07", "07", false},
		{"1", "1", false},
		{"", "", false},
	}
	for _, c := range cases {
		got := ParseStatusCode(c.raw)
		if got != c.want || got.Known() != c.known {
			t.Errorf("ParseStatusCode(%q) = %q known %v, want %q %v", c.raw, got, got.Known(), c.want, c.known)
		}
		if c.known && got.Meaning() == "" {
			t.Errorf("%q has no meaning", got)
		}
	}
}

func TestBusinessAndPriority(t *testing.T) {
	for _, b := range []BusinessDocType{BusinessNew, BusinessRevoke, BusinessUpdate, BusinessReplace} {
		if !b.Known() || b.Meaning() == "" {
			t.Errorf("business type %q unknown", b)
		}
	}
	for _, b := range []BusinessDocType{"4", "", "00", "new"} {
		if b.Known() {
			t.Errorf("business type %q known", b)
		}
	}
	for _, p := range []Priority{"0", "1", "2", "3", "4"} {
		if !p.Known() {
			t.Errorf("priority %q unknown", p)
		}
	}
	if Priority("5").Known() {
		t.Error("priority 5 known")
	}
}

func TestTrimSpace(t *testing.T) {
	for in, want := range map[string]string{
		" \t\r\n x y \n": "x y",
		"\u00a0x\u00a0":  "\u00a0x\u00a0", // a no-break space is content
		"":               "",
		"   ":            "",
	} {
		if got := trimSpace(in); got != want {
			t.Errorf("trimSpace(%q) = %q, want %q", in, got, want)
		}
	}
}
