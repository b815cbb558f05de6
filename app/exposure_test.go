package app

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestRawMailIsADownload: the API serves a raw mail as an attachment
// under a sandboxing CSP, never as a page a browser would render.
func TestRawMailIsADownload(t *testing.T) {
	t.Parallel()
	svc := start(t, adminConfig(t, testenv.SQLite(t), ""))
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "stockgear-order-utf8.eml")); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+svc.svc.HTTPAddr()+"/api/v1/messages/1/raw", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cd := resp.Header.Get("Content-Disposition"); resp.StatusCode != 200 || cd != "attachment; filename=1.eml" {
		t.Errorf("raw mail: %d, Content-Disposition %q, want an attachment", resp.StatusCode, cd)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("raw mail: CSP %q, want a sandbox", csp)
	}
}

// TestLogoutRevokesSession: after logout the session's cookie, replayed
// (copied from the browser, say), is refused, on every store.
func TestLogoutRevokesSession(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			t.Parallel()
			svc := start(t, adminConfig(t, st.URL, ""))
			base := "http://" + svc.svc.HTTPAddr()
			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			do := func(method, p string, form url.Values, cookie *http.Cookie) (int, string) {
				t.Helper()
				var body io.Reader
				if form != nil {
					body = strings.NewReader(form.Encode())
				}
				req, _ := http.NewRequestWithContext(t.Context(), method, base+p, body)
				if form != nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				if cookie != nil {
					req.AddCookie(cookie)
				}
				resp, err := noFollow.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b) + "\x00" + resp.Header.Get("Set-Cookie")
			}
			code, out := do("POST", "/admin/login", url.Values{"token": {testAdminToken}}, nil)
			raw := out[strings.IndexByte(out, 0)+1:]
			cookies, err := http.ParseSetCookie(raw)
			if code != 303 || err != nil {
				t.Fatalf("login: %d %q %v", code, raw, err)
			}
			session := &http.Cookie{Name: cookies.Name, Value: cookies.Value}
			code, page := do("GET", "/admin/endpoints", nil, session)
			m := csrfRE.FindStringSubmatch(page)
			if code != 200 || m == nil {
				t.Fatalf("with the session: %d", code)
			}
			if code, _ := do("POST", "/admin/logout", url.Values{"csrf": {m[1]}}, session); code != 303 {
				t.Fatalf("logout: %d", code)
			}
			if code, _ := do("GET", "/admin/endpoints", nil, session); code != 401 {
				t.Errorf("the session's cookie after logout: %d, want 401", code)
			}
		})
	}
}

// TestStoreFilesArePrivate: the SQLite database and its WAL are created
// readable by their owner only, whatever the umask.
func TestStoreFilesArePrivate(t *testing.T) {
	t.Parallel()
	url := testenv.SQLite(t)
	svc := start(t, testConfig(t, url, ""))
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, fixture(t, "stockgear-order-utf8.eml")); err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(url, "sqlite:")
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v, want 0600", f, fi.Mode().Perm())
		}
	}
}
