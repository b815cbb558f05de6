package route

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// tokenEncoding is RFC 4648 base32 in lower case, without padding: it
// survives mail systems that fold the case of local parts.
var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Signer makes and checks vendor address tokens: the first n characters of
// base32(HMAC-SHA256(key, lower-case seller id)).
type Signer struct {
	key []byte
	n   int
}

// DefaultTokenLength is the length of a vendor address token: 10 base32
// characters are 50 bits of HMAC.
const DefaultTokenLength = 10

// NewSigner returns a Signer for tokens of n characters (at most 52).
func NewSigner(key []byte, n int) Signer {
	return Signer{key: key, n: min(max(n, 1), 52)}
}

// Token returns the token of a seller id.
func (s Signer) Token(seller string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(strings.ToLower(seller)))
	return tokenEncoding.EncodeToString(m.Sum(nil))[:s.n]
}

// Verify reports, in constant time, whether token is the seller's.
func (s Signer) Verify(seller, token string) bool {
	want := s.Token(seller)
	return hmac.Equal([]byte(want), []byte(strings.ToLower(token)))
}

// ErrSeller means a seller id cannot be put in an address.
var ErrSeller = errors.New("route: a seller id is letters, digits, '.', '_' and '-', and starts and ends with a letter or digit")

// Address returns the vendor address of a seller on domain:
// SELLER.TOKEN@DOMAIN, the seller id in lower case.
func (s Signer) Address(seller, domain string) (string, error) {
	seller = strings.ToLower(strings.TrimSpace(seller))
	if !validSeller(seller) {
		return "", fmt.Errorf("%q: %w", seller, ErrSeller)
	}
	addr := seller + "." + s.Token(seller) + "@" + domain
	if len(seller)+1+s.n > 64 {
		return "", fmt.Errorf("%q: the address's local part would be longer than 64 characters", seller)
	}
	return addr, nil
}

func validSeller(s string) bool {
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// Tenant returns the tenant name of a vendor seller: prefix followed by
// the lower-cased seller id in the shape of tenant names (letters and
// digits in words joined by single - or _), at most 60 characters. Every
// run of other characters becomes one separator: "_" if it starts with
// "_", else "-". Where that shape loses something of the id (a ".", a run
// of separators, a cut), six hex digits of the id's SHA-256 follow, so
// that two sellers never share a tenant ("shop.a" and "shop-a"). It is ""
// when the seller id has no letter or digit.
func Tenant(prefix, seller string) string {
	seller = strings.ToLower(seller)
	var b []byte
	var pending byte
	for i := 0; i < len(seller); i++ {
		c := seller[i]
		if alnum(c) {
			if pending != 0 && len(b) > 0 {
				b = append(b, pending)
			}
			pending = 0
			b = append(b, c)
			continue
		}
		if pending == 0 {
			pending = '-'
			if c == '_' {
				pending = '_'
			}
		}
	}
	if len(b) == 0 {
		return ""
	}
	t := prefix + string(b)
	if string(b) == seller && len(t) <= maxTenant {
		return t
	}
	sum := sha256.Sum256([]byte(seller))
	suffix := "-" + hex.EncodeToString(sum[:3])
	if len(t) > maxTenant-len(suffix) {
		t = strings.TrimRight(t[:maxTenant-len(suffix)], "-_")
	}
	return t + suffix
}

// maxTenant is the longest tenant name vendor mode makes.
const maxTenant = 60
