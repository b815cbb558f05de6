package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Browser sessions are signed, not stored: the cookie holds an expiry, a
// random session id and an HMAC of both under a key derived from the
// admin token, so changing the token ends every session. Logging out
// records the session id as revoked (Options.Sessions, the store when
// several instances share it) until it would have expired: a copy of the
// cookie dies with it.
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
	revoked  SessionRevoker
}

func newAuth(token string, ttl time.Duration, now func() time.Time) *auth {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("qoo10hook admin session v1"))
	return &auth{tokenSum: sha256.Sum256([]byte(token)), key: m.Sum(nil), ttl: ttl, now: now, revoked: newMemoryRevoker(now)}
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
		revoked, err := a.revoked.SessionRevoked(r.Context(), sessionID(c.Value))
		if err != nil || revoked {
			return 0, false // a store that cannot tell keeps the session out
		}
		return bySession, true
	}
	return 0, false
}

// sessionID is what names a session in the revocation list: its expiry
// and random part, as the cookie carries them.
func sessionID(v string) string {
	if parts := strings.Split(v, "."); len(parts) == 3 {
		return parts[1]
	}
	return ""
}

// sessionExpiry is when a valid session cookie expires.
func sessionExpiry(v string) time.Time {
	exp, _ := b64.DecodeString(sessionID(v))
	if len(exp) < 8 {
		return time.Time{}
	}
	return time.Unix(int64(binary.BigEndian.Uint64(exp)), 0)
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

// sessionBytes are the expiry (8 bytes) and the random session id (16).
const sessionBytes = 8 + 16

// newSession returns a cookie value valid for the session TTL.
func (a *auth) newSession() string {
	var exp [sessionBytes]byte
	binary.BigEndian.PutUint64(exp[:8], uint64(a.now().Add(a.ttl).Unix()))
	rand.Read(exp[8:])
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
	if err != nil || len(exp) != sessionBytes {
		return false
	}
	return a.now().Unix() < int64(binary.BigEndian.Uint64(exp[:8]))
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
	if c, err := r.Cookie(cookieName); err == nil && kind == bySession {
		if err := h.auth.revoked.RevokeSession(r.Context(), sessionID(c.Value), sessionExpiry(c.Value)); err != nil {
			h.log.Error("admin: logout: revoke session", "err", err)
			http.Error(w, "internal error; see the service log", http.StatusInternalServerError)
			return
		}
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

// SessionRevoker keeps the console sessions ended by logout until they
// would have expired; *store.Store is one, shared by every instance.
type SessionRevoker interface {
	RevokeSession(ctx context.Context, id string, until time.Time) error
	SessionRevoked(ctx context.Context, id string) (bool, error)
}

// memoryRevoker is the revocation list of one instance, for an admin
// surface without Options.Sessions.
type memoryRevoker struct {
	mu    sync.Mutex
	until map[string]time.Time
	now   func() time.Time
}

func newMemoryRevoker(now func() time.Time) *memoryRevoker {
	return &memoryRevoker{until: map[string]time.Time{}, now: now}
}

func (m *memoryRevoker) RevokeSession(_ context.Context, id string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for k, t := range m.until {
		if now.After(t) {
			delete(m.until, k)
		}
	}
	m.until[id] = until
	return nil
}

func (m *memoryRevoker) SessionRevoked(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.until[id]
	return ok, nil
}
