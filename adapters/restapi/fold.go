package restapi

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Vietnamese letters with diacritics, precomposed, grouped by the base
// letter they fold to: the 12 vowels of the alphabet (a ă â e ê i o ô ơ u
// ư y) with the five tone marks, and đ. Their upper-case forms are added
// by init (each is the simple case mapping of the lower-case one).
var vietnameseLetters = []struct {
	base    rune
	letters string
}{
	{'a', "àáảãạăằắẳẵặâầấẩẫậ"},
	{'e', "èéẻẽẹêềếểễệ"},
	{'i', "ìíỉĩị"},
	{'o', "òóỏõọôồốổỗộơờớởỡợ"},
	{'u', "ùúủũụưừứửữự"},
	{'y', "ỳýỷỹỵ"},
	{'d', "đ"},
}

// The Vietnamese letters with diacritics lie in two blocks: Latin-1
// Supplement and Latin Extended-A/B (à, ă, đ, ơ, ư: U+00C0–U+01B0) and
// Latin Extended Additional (ạ … ỹ: U+1EA0–U+1EF9). baseOf1 and baseOf2
// map them to their base letter in the same case (ồ → o, Đ → D); 0 for
// the other runes of the blocks.
const (
	block1Lo, block1Hi = 0x00C0, 0x01B0
	block2Lo, block2Hi = 0x1EA0, 0x1EF9
)

var (
	baseOf1 [block1Hi - block1Lo + 1]rune
	baseOf2 [block2Hi - block2Lo + 1]rune
)

func init() {
	set := func(r, base rune) {
		switch {
		case block1Lo <= r && r <= block1Hi:
			baseOf1[r-block1Lo] = base
		case block2Lo <= r && r <= block2Hi:
			baseOf2[r-block2Lo] = base
		default:
			panic(fmt.Sprintf("restapi: %c (%U) is outside the Vietnamese blocks", r, r))
		}
	}
	for _, g := range vietnameseLetters {
		for _, r := range g.letters {
			set(r, g.base)
			set(unicode.ToUpper(r), unicode.ToUpper(g.base))
		}
	}
}

// stripMark returns the base letter of a Vietnamese letter with
// diacritics, in the same case.
func stripMark(r rune) (rune, bool) {
	var base rune
	switch {
	case block1Lo <= r && r <= block1Hi:
		base = baseOf1[r-block1Lo]
	case block2Lo <= r && r <= block2Hi:
		base = baseOf2[r-block2Lo]
	}
	return base, base != 0
}

// isMark reports whether r is a combining mark (general category Mn).
func isMark(r rune) bool {
	return 0x0300 <= r && r <= 0x036F || r > 0x036F && unicode.Is(unicode.Mn, r)
}

// Fold returns s as directory search compares it: Vietnamese diacritics
// removed (precomposed letters through the table above, decomposed ones by
// dropping combining marks, so both NFC and NFD input fold alike), đ as d,
// lower case, and runs of white space as one space. "Ủy ban nhân dân tỉnh
// Hòa Bình" folds to "uy ban nhan dan tinh hoa binh". Letters of other
// languages keep their marks (only lower-cased).
func Fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if r < utf8.RuneSelf { // ASCII: most of a name, and no table look-up
			switch {
			case r == ' ' || '\t' <= r && r <= '\r':
				space = b.Len() > 0
				continue
			case 'A' <= r && r <= 'Z':
				r += 'a' - 'A'
			}
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteByte(byte(r))
			continue
		}
		switch {
		case isMark(r):
			continue
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if base, ok := stripMark(r); ok {
			r = base
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// ContentDisposition returns the Content-Disposition (RFC 6266) that
// saves an attachment under name: "attachment", an ASCII filename (the
// name with Vietnamese marks removed and anything else outside a safe set
// replaced by '_') and, when that differs from the name, filename* with
// the UTF-8 name (RFC 8187). Path components, control and bidirectional
// formatting characters and leading or trailing dots and spaces are
// removed first; a name left empty becomes fallback.
func ContentDisposition(name, fallback string) string {
	name = safeFileName(name)
	if name == "" {
		name = fallback
	}
	ascii := asciiFileName(name)
	v := `attachment; filename="` + ascii + `"`
	if ascii != name {
		v += "; filename*=UTF-8''" + encodeRFC8187(name)
	}
	return v
}

// maxFileNameBytes bounds a served file name (file systems take 255).
const maxFileNameBytes = 200

func safeFileName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r), r == '\uFEFF', r == utf8.RuneError:
			return -1
		}
		return r
	}, name)
	name = strings.Trim(name, " .")
	if len(name) <= maxFileNameBytes {
		return name
	}
	// Keep the extension, cut the stem at a rune boundary.
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
		ext = name[i:]
	}
	stem := name[:maxFileNameBytes-len(ext)]
	for len(stem) > 0 && !utf8.ValidString(stem) {
		stem = stem[:len(stem)-1]
	}
	return strings.TrimRight(stem, " .") + ext
}

func asciiFileName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if isMark(r) {
			continue
		}
		if base, ok := stripMark(r); ok {
			r = base
		}
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', strings.ContainsRune(" ._-()+,", r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// encodeRFC8187 percent-encodes every byte outside attr-char.
func encodeRFC8187(s string) string {
	const hexdigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdigits[c>>4])
		b.WriteByte(hexdigits[c&15])
	}
	return b.String()
}
