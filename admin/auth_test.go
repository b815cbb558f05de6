package admin

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSessions: a session is valid until it expires, only under the
// token that made it, and cannot be altered.
func TestSessions(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	a := newAuth("token-one-0123456789abcdef", time.Hour, clock)
	s := a.newSession()
	if !a.validSession(s) {
		t.Fatal("fresh session refused")
	}
	if newAuth("token-two-0123456789abcdef", time.Hour, clock).validSession(s) {
		t.Error("a session survived a token change")
	}
	parts := strings.Split(s, ".")
	later := newAuth("token-one-0123456789abcdef", 48*time.Hour, clock).newSession()
	if a.validSession(parts[0] + "." + strings.Split(later, ".")[1] + "." + parts[2]) {
		t.Error("a session with a moved expiry was accepted")
	}
	for _, bad := range []string{"", "v1", "v1..", "v2." + parts[1] + "." + parts[2], s + "x"} {
		if a.validSession(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
	now = now.Add(time.Hour + time.Second)
	if a.validSession(s) {
		t.Error("an expired session was accepted")
	}
}

func TestCheckToken(t *testing.T) {
	t.Parallel()
	a := newAuth("token-one-0123456789abcdef", time.Hour, time.Now)
	for tok, want := range map[string]bool{"token-one-0123456789abcdef": true, "token-one-0123456789abcde": false,
		"token-one-0123456789abcdef ": false, "": false, "TOKEN-ONE-0123456789ABCDEF": false} {
		if got := a.checkToken(tok); got != want {
			t.Errorf("checkToken(%q) = %v", tok, got)
		}
		r := httptest.NewRequest("GET", "/api/v1/messages", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		if _, ok := a.authenticate(r); ok != want && strings.TrimSpace(tok) == tok {
			t.Errorf("authenticate(Bearer %q) = %v", tok, ok)
		}
	}
}

// TestLocalPath: after login the browser only goes to a console page.
func TestLocalPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/admin/endpoints":          "/admin/endpoints",
		"/admin/messages?status=x":  "/admin/messages?status=x",
		"":                          "/admin/",
		"https://evil.example/":     "/admin/",
		"//evil.example/admin/":     "/admin/",
		"/admin/\\evil":             "/admin/",
		"/api/v1/messages":          "/admin/",
		"/admin/logout":             "/admin/",
		"/admin/login?next=/admin/": "/admin/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
