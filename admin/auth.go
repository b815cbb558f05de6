package admin

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strings"
	"time"
)

// Browser sessions are stateless: the cookie holds an expiry and an HMAC
// of it under a key derived from the admin token, so changing the token
// ends every session, and no session store is shared between instances.
const (
	cookieName = "qoo10hook_admin"
	csrfField  = "csrf"
	loginPath  = ConsolePrefix + "login"
	logoutPath = ConsolePrefix + "logout"
)

type authKind int

const (
	byBearer authKind = iota + 1
	bySession
)

type auth struct {
	tokenSum [sha256.Size]byte
	key      []byte
	ttl      time.Duration
	now      func() time.Time
}

func newAuth(token string, ttl time.Duration, now func() time.Time) *auth {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("qoo10hook admin session v1"))
	return &auth{tokenSum: sha256.Sum256([]byte(token)), key: m.Sum(nil), ttl: ttl, now: now}
}

// checkToken compares in constant time: hashing first makes the time
// independent of the lengths too.
func (a *auth) checkToken(s string) bool {
	sum := sha256.Sum256([]byte(s))
	return subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) == 1
}

// authenticate accepts "Authorization: Bearer TOKEN", or else a valid
// session cookie. A request that sends an Authorization header is judged
// by it alone.
func (a *auth) authenticate(r *http.Request) (authKind, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && a.checkToken(strings.TrimSpace(tok)) {
			return byBearer, true
		}
		return 0, false
	}
	if c, err := r.Cookie(cookieName); err == nil && a.validSession(c.Value) {
		return bySession, true
	}
	return 0, false
}

func (a *auth) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, a.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// newSession returns a cookie value valid for the session TTL.
func (a *auth) newSession() string {
	var exp [8]byte
	binary.BigEndian.PutUint64(exp[:], uint64(a.now().Add(a.ttl).Unix()))
	e := b64.EncodeToString(exp[:])
	return "v1." + e + "." + b64.EncodeToString(a.mac("session", e))
}

func (a *auth) validSession(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return false
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, a.mac("session", parts[1])) {
		return false
	}
	exp, err := b64.DecodeString(parts[1])
	if err != nil || len(exp) != 8 {
		return false
	}
	return a.now().Unix() < int64(binary.BigEndian.Uint64(exp))
}

// csrfToken is the token the console's forms carry: bound to the session,
// so a page of another site can neither read nor forge it.
func (a *auth) csrfToken(r *http.Request) string {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return ""
	}
	return b64.EncodeToString(a.mac("csrf", c.Value))
}

// checkCSRF is true for a bearer-token request (no cookie is involved)
// or a form that carries its session's token.
func (a *auth) checkCSRF(r *http.Request) bool {
	if k, _ := r.Context().Value(authKindKey{}).(authKind); k == byBearer {
		return true
	}
	want := a.csrfToken(r)
	got := r.PostFormValue(csrfField)
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.renderLogin(w, r, http.StatusOK, "", r.URL.Query().Get("next"))
	case http.MethodPost:
		if err := h.csrf.Check(r); err != nil {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		next := r.PostFormValue("next")
		if !h.auth.checkToken(r.PostFormValue("token")) {
			h.log.Warn("admin: login refused: wrong token", "remote", r.RemoteAddr)
			h.renderLogin(w, r, http.StatusUnauthorized, "That is not the admin token.", next)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: h.auth.newSession(), Path: "/",
			MaxAge: int(h.auth.ttl.Seconds()), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureRequest(r)})
		h.log.Info("admin: console login", "remote", r.RemoteAddr)
		http.Redirect(w, r, localPath(next), http.StatusSeeOther)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	kind, ok := h.auth.authenticate(r)
	if !ok {
		h.unauthorized(w, r)
		return
	}
	r = r.WithContext(contextWithKind(r, kind))
	if h.csrf.Check(r) != nil || !h.auth.checkCSRF(r) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secureRequest(r)})
	http.Redirect(w, r, loginPath, http.StatusSeeOther)
}

// localPath keeps a post-login redirect on this site's console.
func localPath(p string) string {
	if !strings.HasPrefix(p, ConsolePrefix) || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") ||
		strings.HasPrefix(p, logoutPath) || strings.HasPrefix(p, loginPath) {
		return ConsolePrefix
	}
	return p
}
