package restapi_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"truc.vn/truc/adapters/restapi"
)

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Hòa Bình", "hoa binh"},
		{"HÒA BÌNH", "hoa binh"},
		{"Ho\u0300a Bi\u0300nh", "hoa binh"}, // decomposed (NFD), as macOS writes it
		{"Đà Nẵng", "da nang"},
		{"đ", "d"},
		{"Ủy ban nhân dân tỉnh Hòa Bình", "uy ban nhan dan tinh hoa binh"},
		{"Thừa Thiên Huế", "thua thien hue"},
		{"Bà Rịa – Vũng Tàu", "ba ria – vung tau"},
		{"u\u031b\u0300", "u"}, // ừ decomposed: horn and grave
		{"  Bộ   Nội\tvụ  ", "bo noi vu"},
		{"000.00.00.G09", "000.00.00.g09"},
		{"Ångström", "ångström"}, // not Vietnamese: only lower-cased, the marks stay
		{"", ""},
	}
	for _, tt := range tests {
		if got := restapi.Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestFoldVietnameseAlphabet folds every letter of the Vietnamese
// alphabet, both cases: the 12 vowels with each of the 6 tones (no mark
// and five marks) and đ. The table was checked once against the Unicode
// decompositions (golang.org/x/text/unicode/norm, outside the module):
// each of the 132 letters with marks decomposes to its base and combining
// marks only.
func TestFoldVietnameseAlphabet(t *testing.T) {
	vowels := map[rune]string{
		'a': "aàáảãạ" + "ăằắẳẵặ" + "âầấẩẫậ",
		'e': "eèéẻẽẹ" + "êềếểễệ",
		'i': "iìíỉĩị",
		'o': "oòóỏõọ" + "ôồốổỗộ" + "ơờớởỡợ",
		'u': "uùúủũụ" + "ưừứửữự",
		'y': "yỳýỷỹỵ",
		'd': "dđ",
	}
	n := 0
	for base, letters := range vowels {
		for _, r := range letters {
			for _, c := range []rune{r, unicode.ToUpper(r)} {
				n++
				if got := restapi.Fold(string(c)); got != string(base) {
					t.Errorf("Fold(%c %U) = %q, want %c", c, c, got, base)
				}
			}
		}
	}
	if n != 2*(6*12+2) {
		t.Fatalf("%d letters, want %d", n, 2*(6*12+2))
	}
}

func TestContentDisposition(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"ascii", "report.pdf", `attachment; filename="report.pdf"`},
		{"vietnamese", "Công văn số 12.pdf", `attachment; filename="Cong van so 12.pdf"; filename*=UTF-8''C%C3%B4ng%20v%C4%83n%20s%E1%BB%91%2012.pdf`},
		{"đ", "Đề án.docx", `attachment; filename="De an.docx"; filename*=UTF-8''%C4%90%E1%BB%81%20%C3%A1n.docx`},
		{"path", "../../etc/passwd", `attachment; filename="passwd"`},
		{"windows path", `C:\Users\a\b.txt`, `attachment; filename="b.txt"`},
		{"quotes and semicolons", `a"b;c.txt`, `attachment; filename="a_b_c.txt"; filename*=UTF-8''a%22b%3Bc.txt`},
		{"control characters", "a\r\nb\x00.txt", `attachment; filename="ab.txt"`},
		{"bidi override", "invoice\u202egpj.exe", `attachment; filename="invoicegpj.exe"`},
		{"hidden file", ".bashrc", `attachment; filename="bashrc"`},
		{"only dots", "..", `attachment; filename="attachment-1"`},
		{"empty", "", `attachment; filename="attachment-1"`},
		{"invalid utf-8", "a\xffb.txt", `attachment; filename="a_b.txt"`},
		{"chinese", "文件.pdf", `attachment; filename="__.pdf"; filename*=UTF-8''%E6%96%87%E4%BB%B6.pdf`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := restapi.ContentDisposition(tt.in, "attachment-1"); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	t.Run("long name keeps its extension", func(t *testing.T) {
		got := restapi.ContentDisposition(strings.Repeat("ệ", 300)+".pdf", "x")
		name := got[strings.Index(got, `filename="`)+10:]
		name = name[:strings.IndexByte(name, '"')]
		if !strings.HasSuffix(name, ".pdf") || len(name) > 200 {
			t.Errorf("ASCII name %q (%d bytes)", name, len(name))
		}
		if !utf8.ValidString(got) || len(got) > 2000 {
			t.Errorf("header of %d bytes", len(got))
		}
	})
}
