package audit

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"truc.vn/truc/bus"
	"truc.vn/truc/edoc"
)

// facts are what a summary is written from: the decoded log events of the
// letter and what the packages say. Build fills them from the exporter's
// data, Verify from the verified items only, so that the summary in a
// bundle that verifies says nothing the evidence does not.
type facts struct {
	key      string
	origin   string
	size     int64
	document [32]byte
	events   []indexedEvent
	// docs are the parsed document and status packages by SHA-256; a
	// package that is not there (purged, or refused by the axis) is
	// absent. For Verify, only packages whose signature verified.
	docs     map[[32]byte]*edoc.Package
	purged   map[[32]byte]bool
	withheld map[[32]byte]bool
	// notices are the SHA-256s of the rejection notices.
	notices map[[32]byte]bool
}

type indexedEvent struct {
	index int64
	ev    bus.Event
}

// statusNames are the edXML status codes in Vietnamese and English.
var statusNames = map[string][2]string{
	"01": {"đã đến", "arrived"},
	"02": {"từ chối", "refused"},
	"03": {"đã tiếp nhận", "accepted"},
	"04": {"đã phân công", "assigned"},
	"05": {"đang xử lý", "being processed"},
	"06": {"đã hoàn thành", "finished"},
	"13": {"đề nghị lấy lại", "recall requested"},
	"15": {"đồng ý cập nhật/lấy lại", "update or recall agreed"},
	"16": {"từ chối cập nhật/lấy lại", "update or recall refused"},
}

func statusName(code string, lang int) string {
	if n, ok := statusNames[code]; ok {
		return code + " (" + n[lang] + ")"
	}
	return code
}

const (
	vi = 0
	en = 1
)

func fmtTime(t time.Time) string {
	return t.In(edoc.ICT).Format("2006-01-02 15:04:05.000") + " (UTC+7)"
}

func shortHex(h [32]byte) string { return hex.EncodeToString(h[:]) }

// organ names an OrganId with its name from the document, when known.
func (f *facts) organ(id string) string {
	if p := f.docs[f.document]; p != nil && p.Kind == edoc.KindDocument {
		if p.Header.From.OrganID == id && p.Header.From.OrganName != "" {
			return id + " (" + p.Header.From.OrganName + ")"
		}
		for _, to := range p.Header.To {
			if to.OrganID == id && to.OrganName != "" {
				return id + " (" + to.OrganName + ")"
			}
		}
	}
	return id
}

func (f *facts) organs(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = f.organ(id)
	}
	return strings.Join(out, ", ")
}

// summary writes the bilingual summary: the same content in Vietnamese,
// then in English. It is a pure function of f.
func (f *facts) summary() string {
	var b strings.Builder
	for lang := vi; lang <= en; lang++ {
		if lang == en {
			b.WriteString("\n")
		}
		f.write(&b, lang)
	}
	return b.String()
}

func (f *facts) write(b *strings.Builder, lang int) {
	t := func(viText, enText string) string {
		if lang == vi {
			return viText
		}
		return enText
	}
	line := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	line("%s", t("=== TÓM TẮT HỒ SƠ CHỨNG CỨ (Tiếng Việt) ===", "=== EVIDENCE BUNDLE SUMMARY (English) ==="))
	line("%s: %s", t("Văn bản (khóa gốc)", "Letter (root key)"), f.key)
	line("%s: %s, %s %d", t("Nhật ký minh bạch", "Transparency log"), f.origin, t("mốc kiểm tra kích thước", "checkpoint of size"), f.size)
	var accepted *bus.Event
	for i := range f.events {
		if e := &f.events[i].ev; e.Kind == bus.EventSubmissionAccepted && e.PackageSHA256 == f.document {
			accepted = e
			break
		}
	}
	line("%s: %s", t("Gói tin văn bản (SHA-256)", "Document package (SHA-256)"), shortHex(f.document))
	if p := f.docs[f.document]; p != nil && p.Kind == edoc.KindDocument {
		if c := p.Header.Code.String(); c != "" {
			line("%s: %s", t("Số, ký hiệu", "Number and notation"), c)
		}
		if p.Header.Subject != "" {
			line("%s: %s", t("Trích yếu", "Subject"), p.Header.Subject)
		}
	} else if f.purged[f.document] {
		line("%s", t("Nội dung gói tin đã bị xóa theo thời hạn lưu trữ; bản ghi nhật ký, mã băm và chứng cứ xác minh vẫn còn.",
			"The package bytes were purged after the retention period; the log record, the digest and the verification evidence remain."))
	} else if f.withheld[f.document] {
		line("%s", t("Bên xuất hồ sơ không giữ nội dung gói tin; bản ghi nhật ký, mã băm và chứng cứ xác minh vẫn còn.",
			"The exporter does not hold the package bytes; the log record, the digest and the verification evidence remain."))
	}
	if accepted != nil {
		line("%s: %s", t("Cơ quan gửi", "Sender"), f.organ(accepted.Sender))
		line("%s: %s", t("Nơi nhận", "Recipients"), f.organs(accepted.Recipients))
		line("%s %s", t("Trục đã xác minh chữ ký và tiếp nhận lúc", "The axis verified the signature and accepted it at"), fmtTime(accepted.Time))
	}

	line("")
	line("%s", t("Diễn biến (theo thứ tự trong nhật ký; * là gói tin văn bản của hồ sơ này):", "Events (in log order; * marks this bundle's document package):"))
	statuses := map[[32]byte]bus.Event{}
	for _, ie := range f.events {
		e := ie.ev
		var what string
		switch e.Kind {
		case bus.EventSubmissionAccepted:
			what = t(fmt.Sprintf("trục tiếp nhận văn bản %s của %s gửi %s", pkgName(e.PackageSHA256, f.document), e.Sender, strings.Join(e.Recipients, ", ")),
				fmt.Sprintf("the axis accepted document %s from %s to %s", pkgName(e.PackageSHA256, f.document), e.Sender, strings.Join(e.Recipients, ", ")))
		case bus.EventSubmissionRejected:
			what = t(fmt.Sprintf("trục từ chối gói tin %s (lý do: %s)", pkgName(e.PackageSHA256, f.document), e.Reason),
				fmt.Sprintf("the axis refused package %s (reason: %s)", pkgName(e.PackageSHA256, f.document), e.Reason))
		case bus.EventDelivered:
			if f.notices[e.PackageSHA256] {
				what = t(fmt.Sprintf("trục chuyển thông báo từ chối %s tới điểm kết nối %s cho %s", pkgName(e.PackageSHA256, f.document), e.Edge, strings.Join(e.Recipients, ", ")),
					fmt.Sprintf("the axis forwarded the rejection notice %s to edge %s for %s", pkgName(e.PackageSHA256, f.document), e.Edge, strings.Join(e.Recipients, ", ")))
				break
			}
			if st, ok := statuses[e.PackageSHA256]; ok {
				what = t(fmt.Sprintf("trục chuyển trạng thái %s của %s tới điểm kết nối %s cho %s", statusName(st.StatusCode, vi), st.Sender, e.Edge, strings.Join(e.Recipients, ", ")),
					fmt.Sprintf("the axis delivered status %s from %s to edge %s for %s", statusName(st.StatusCode, en), st.Sender, e.Edge, strings.Join(e.Recipients, ", ")))
				break
			}
			what = t(fmt.Sprintf("trục chuyển %s tới điểm kết nối %s cho %s", pkgName(e.PackageSHA256, f.document), e.Edge, strings.Join(e.Recipients, ", ")),
				fmt.Sprintf("the axis delivered %s to edge %s for %s", pkgName(e.PackageSHA256, f.document), e.Edge, strings.Join(e.Recipients, ", ")))
		case bus.EventStatus:
			statuses[e.PackageSHA256] = e
			what = t(fmt.Sprintf("%s gửi trạng thái %s tới %s", e.Sender, statusName(e.StatusCode, vi), strings.Join(e.Recipients, ", ")),
				fmt.Sprintf("%s sent status %s to %s", e.Sender, statusName(e.StatusCode, en), strings.Join(e.Recipients, ", ")))
		case bus.EventRejectionNotice:
			what = t(fmt.Sprintf("điểm kết nối %s từ chối nhận %s cho %s (lý do: %s)", e.Edge, pkgName(e.PackageSHA256, f.document), strings.Join(e.Recipients, ", "), e.Reason),
				fmt.Sprintf("edge %s refused %s for %s (reason: %s)", e.Edge, pkgName(e.PackageSHA256, f.document), strings.Join(e.Recipients, ", "), e.Reason))
		default:
			what = string(e.Kind)
		}
		line("  [%s %d] %s: %s", t("bản ghi", "leaf"), ie.index, fmtTime(e.Time), what)
	}

	if accepted == nil {
		return
	}
	line("")
	line("%s", t("Theo từng nơi nhận:", "Per recipient:"))
	for _, r := range accepted.Recipients {
		var parts []string
		delivered := false
		for _, ie := range f.events {
			e := ie.ev
			switch {
			case e.Kind == bus.EventDelivered && e.PackageSHA256 == f.document && slices.Contains(e.Recipients, r):
				delivered = true
				parts = append(parts, t(fmt.Sprintf("đã chuyển tới điểm kết nối %s lúc %s", e.Edge, fmtTime(e.Time)),
					fmt.Sprintf("delivered to edge %s at %s", e.Edge, fmtTime(e.Time))))
			case e.Kind == bus.EventStatus && e.Sender == r:
				parts = append(parts, t(fmt.Sprintf("trạng thái %s lúc %s", statusName(e.StatusCode, vi), fmtTime(e.Time)),
					fmt.Sprintf("status %s at %s", statusName(e.StatusCode, en), fmtTime(e.Time))))
			case e.Kind == bus.EventRejectionNotice && e.PackageSHA256 == f.document && slices.Contains(e.Recipients, r):
				parts = append(parts, t(fmt.Sprintf("điểm kết nối %s từ chối nhận lúc %s (lý do: %s)", e.Edge, fmtTime(e.Time), e.Reason),
					fmt.Sprintf("edge %s refused it at %s (reason: %s)", e.Edge, fmtTime(e.Time), e.Reason)))
			}
		}
		if !delivered {
			parts = append([]string{t("chưa có bản ghi chuyển tới nơi nhận", "no delivery recorded")}, parts...)
		}
		line("  - %s: %s", f.organ(r), strings.Join(parts, "; "))
	}
}

func pkgName(sha, document [32]byte) string {
	h := shortHex(sha)[:16]
	if sha == document {
		return h + "…*"
	}
	return h + "…"
}
