package parse

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/unicode/norm"
)

// trimBlankLinesRef is the plain definition trimBlankLines must keep to.
func trimBlankLinesRef(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = trimSpace(l)
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

// TestTrimBlankLinesEquivalent checks the allocation-free paths of
// trimBlankLines and joinTrimmed against the plain definition.
func TestTrimBlankLinesEquivalent(t *testing.T) {
	pieces := []string{"", " ", "\u3000", "a", "備考", " x ", "\t", "\r", "y\u3000"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		n := 1 + rng.IntN(5)
		lines := make([]string, n)
		for i := range lines {
			for range rng.IntN(3) {
				lines[i] += pieces[rng.IntN(len(pieces))]
			}
		}
		s := strings.Join(lines, "\n")
		want := trimBlankLinesRef(s)
		if got := trimBlankLines(s); got != want {
			t.Fatalf("trimBlankLines(%q) = %q, want %q", s, got, want)
		}
		if got := joinTrimmed(lines[0], lines[1:]); got != want {
			t.Fatalf("joinTrimmed(%q) = %q, want %q", lines, got, want)
		}
	}
}

// TestDecodeISO2022JPAgreesWithXText checks the fast decoder against
// x/text on random escape sequences, bytes and JIS pairs: whatever it
// accepts, it must decode as x/text does.
func TestDecodeISO2022JPAgreesWithXText(t *testing.T) {
	pieces := []string{"\x1b$B", "\x1b(B", "\x1b(J", "\x1b(I", "\x1b$@", "abc ", "\n", "\r\n",
		"\x24\x22", "\x30\x21", "\x2d\x21", "\x7c\x7b", "\x21", "\x5f", "\x80", "\x1b(", "\x0e", "~\\"}
	rng := rand.New(rand.NewPCG(3, 4))
	accepted := 0
	for range 50000 {
		var b []byte
		for range 1 + rng.IntN(8) {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		got, ok := decodeISO2022JP(b)
		if !ok {
			continue
		}
		accepted++
		want, err := japanese.ISO2022JP.NewDecoder().Bytes(b)
		if err != nil || got != string(want) {
			t.Fatalf("decodeISO2022JP(%q) = %q, x/text %q (%v)", b, got, want, err)
		}
	}
	if accepted < 1000 {
		t.Fatalf("only %d inputs accepted", accepted)
	}
}

// TestNFKCAgreesWithNorm checks the full-width fast path of nfkc against
// the general normalizer.
func TestNFKCAgreesWithNorm(t *testing.T) {
	pieces := []string{"a", "0", "-", " ", "０", "８", "－", "Ａ", "ｚ", "\u3000", "〒", "\u3036", "ｶ", "ﾞ",
		"\u0301", "e", "①", "㈱", "\xff", "～", "！", "＼"}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 50000 {
		var s string
		for range 1 + rng.IntN(6) {
			s += pieces[rng.IntN(len(pieces))]
		}
		if got, want := nfkc(s), norm.NFKC.String(s); got != want {
			t.Fatalf("nfkc(%q) = %q, want %q", s, got, want)
		}
	}
}

// trimSpaceRef is trimSpace by its definition.
func trimSpaceRef(s string) string {
	return strings.TrimRightFunc(strings.TrimLeftFunc(s, isSpaceRef), isSpaceRef)
}

func isSpaceRef(r rune) bool {
	switch r {
	case ' ', '\t', '\r', '\n', 0x3000, 0xA0:
		return true
	}
	return r >= 0x80 && unicode.IsSpace(r)
}

// TestTrimSpaceAgreesWithDefinition checks the byte-pattern fast paths of
// trimSpace, trimRightSpace and isSpace on every rune up to U+FFFF and
// on random text with broken UTF-8.
func TestTrimSpaceAgreesWithDefinition(t *testing.T) {
	for r := rune(0); r <= 0x10FFFF; r++ {
		if isSpace(r) != isSpaceRef(r) {
			t.Fatalf("isSpace(%U) = %v", r, isSpace(r))
		}
		if r > 0xFFFF && r != 0x10FFFF {
			continue
		}
		s := "x" + string(r) + "y"
		for _, in := range []string{string(r), s, string(r) + s + string(r), "\xe3" + string(r), string(r) + "\x80"} {
			if got, want := trimSpace(in), trimSpaceRef(in); got != want {
				t.Fatalf("trimSpace(%q) = %q, want %q", in, got, want)
			}
			if got, want := trimRightSpace(in), strings.TrimRightFunc(in, isSpaceRef); got != want {
				t.Fatalf("trimRightSpace(%q) = %q, want %q", in, got, want)
			}
		}
	}
	pieces := []string{"\u3000", "\u00a0", "\u0085", "\u2000", "\u200a", "\u200b", "\u2028", "\u205f", "\u1680",
		"\xe3\x80", "\x80", "\xc2", "\xe2\x80", "。", "あ", " ", "\t", "a"}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 50000 {
		var s string
		for range 1 + rng.IntN(6) {
			s += pieces[rng.IntN(len(pieces))]
		}
		if got, want := trimSpace(s), trimSpaceRef(s); got != want {
			t.Fatalf("trimSpace(%q) = %q, want %q", s, got, want)
		}
	}
}
