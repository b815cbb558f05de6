package app

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qoo10hook/qoo10hook/config"
	"github.com/qoo10hook/qoo10hook/internal/mailgen"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
	"github.com/qoo10hook/qoo10hook/parse"
	"github.com/qoo10hook/qoo10hook/store"
)

// buyerOrderMail is a StockGear order mail in ISO-2022-JP, as Qoo10 sends
// it, of order orderNo by the buyer with this e-mail address and phone.
func buyerOrderMail(t testing.TB, orderNo, msgID, email, tel string) []byte {
	t.Helper()
	var src parse.TemplateSource
	for _, tm := range parse.BuiltinTemplates() {
		if tm.Name == "stockgear-order-unit" {
			src = tm
		}
	}
	v := mailgen.Values{Fields: map[string]string{
		"SELLER_ID": "shop_erase", "PACK_NO": "7100" + orderNo, "DELIVERY_FEE": "550", "ORDER_TIME": "2026/11/20 21:04:55",
		"BUYER_NM": "佐藤 花子", "BUYER_NM_JA": "サトウ ハナコ", "BUYER_TEL_NO": tel, "BUYER_EMAIL": email,
		"PAYMENT_METHOD": "クレジットカード", "ORDER_NO": orderNo, "ITEM_NO": "1122334455",
		"ITEM_NM": "長袖Tシャツ(TS-001)", "OPTION_INFO": "サイズ:L(TS-001-L)",
		"ORDER_QTY": "1", "ORDER_PRICE": "1,980", "DISCOUNT": "0", "TOTAL_PRICE": "2,530", "DELIVERY_OPTION": "宅配便",
		"DEL_HOPE_DATE": "2026/11/25", "DEL_MEMO": "不在時は宅配ボックスへ",
	}}
	raw, err := mailgen.Mail{From: "Qoo10 <qoo10info@qoo10.jp>", To: "orders@in.example.test", MessageID: msgID,
		Subject: mailgen.Render(src.Subject, v), Body: mailgen.Render(src.Body, v) + "\n", Charset: "iso-2022-jp",
		Encoding: "7bit", CRLF: true}.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// erasureReport runs the erase command and decodes its JSON report.
func erasureReport(t *testing.T, storeURL string, args ...string) store.ErasureReport {
	t.Helper()
	code, out, errs := runCLI(t, map[string]string{"QOO10HOOK_STORE": storeURL}, append([]string{"erase", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("erase %v: exit %d: %s", args, code, errs)
	}
	var rep store.ErasureReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("erase %v: %v\n%s", args, err, out)
	}
	return rep
}

// TestEraseBuyerEndToEnd: a buyer's two orders and a re-sent copy of the
// first come in over SMTP and are delivered; erase --dry-run finds the
// three mails; POST /api/v1/erasures erases them, names the endpoint that
// received their events, and logs who did it without the buyer's data.
func TestEraseBuyerEndToEnd(t *testing.T) {
	const email, tel = "hanako.e2e@example.jp", "03-4444-9876"
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newReceiver(t)
			svc := start(t, adminConfig(t, st.URL, rx.URL))
			for _, m := range [][2]string{{"920000001", "a@qoo10.jp"}, {"920000002", "b@qoo10.jp"}, {"920000001", "a-again@qoo10.jp"}} {
				if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, buyerOrderMail(t, m[0], m[1], email, tel)); err != nil {
					t.Fatal(err)
				}
			}
			rx.nextDelivered(t, 10*time.Second)
			rx.nextDelivered(t, 10*time.Second)

			var rep store.ErasureReport
			// The deliveries are recorded as delivered just after the
			// receiver answered.
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for deadline := time.Now().Add(10 * time.Second); len(rep.DeliveredTo) == 0 && time.Now().Before(deadline); <-tick.C {
				rep = erasureReport(t, st.URL, "--email", "HANAKO.E2E@example.jp", "--dry-run")
			}
			// Each of the two orders' order.placed, and the order.updated
			// that carries its cart's record.
			if len(rep.Mails) != 3 || len(rep.Events) != 4 || !rep.DryRun || strings.Join(rep.DeliveredTo, ",") != "default" {
				t.Fatalf("dry run: %+v", rep)
			}

			ordersURL := "http://" + svc.svc.HTTPAddr() + "/api/v1/orders"
			if code, list := call(t, http.MethodGet, ordersURL, testAdminToken); code != 200 || !strings.Contains(string(list), email) {
				t.Fatalf("the order records before the erasure: %d %s, want the buyer's e-mail", code, list)
			}

			body, _ := json.Marshal(map[string]string{"tel": strings.ReplaceAll(tel, "-", "")})
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+svc.svc.HTTPAddr()+"/api/v1/erasures", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testAdminToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var erased store.ErasureReport
			if resp.StatusCode != 200 || json.Unmarshal(answer, &erased) != nil || erased.DryRun || len(erased.Mails) != 3 ||
				strings.Join(erased.DeliveredTo, ",") != "default" {
				t.Fatalf("POST /api/v1/erasures: %d %s", resp.StatusCode, answer)
			}
			if !slices.ContainsFunc(erased.Rows, func(r store.ErasedRow) bool { return r.Table == "order_body" }) {
				t.Errorf("the erasure lists no order record: %+v", erased.Rows)
			}
			if code, list := call(t, http.MethodGet, ordersURL, testAdminToken); code != 200 || strings.Contains(string(list), email) ||
				strings.Contains(string(list), "9876") {
				t.Errorf("the order records after the erasure: %d %s", code, list)
			}
			for _, m := range erased.Mails {
				code, raw := call(t, http.MethodGet, fmt.Sprintf("http://%s/api/v1/messages/%d/raw", svc.svc.HTTPAddr(), m.ID), testAdminToken)
				if code != 200 || len(raw) != 0 {
					t.Errorf("raw of erased mail %d: %d, %d bytes", m.ID, code, len(raw))
				}
				code, page := call(t, http.MethodGet, fmt.Sprintf("http://%s/admin/messages/%d", svc.svc.HTTPAddr(), m.ID), testAdminToken)
				if code != 200 || !strings.Contains(string(page), "buyer data purged") {
					t.Errorf("console page of erased mail %d: %d\n%s", m.ID, code, page)
				}
			}
			if again := erasureReport(t, st.URL, "--name", "佐藤花子", "--dry-run"); len(again.Mails) != 0 {
				t.Errorf("the buyer is still found by name: %+v", again)
			}
			logs := svc.logs.String()
			if !strings.Contains(logs, `"actor":"api@127.0.0.1"`) || strings.Contains(logs, email) || strings.Contains(logs, tel) {
				t.Errorf("audit line missing, or the log holds the buyer's data:\n%s", logs)
			}
			code, _, errs := runCLI(t, map[string]string{"QOO10HOOK_STORE": st.URL}, "erase", "--email", "a@b.jp", "--tel", "0312345678")
			if code != 2 || !strings.Contains(errs, "exactly one") {
				t.Errorf("two keys: exit %d: %s", code, errs)
			}
		})
	}
}

// TestRetentionInService: with retention.mail at 1s, the service purges a
// mail on its own once it is delivered.
func TestRetentionInService(t *testing.T) {
	rx := newReceiver(t)
	cfg := adminConfig(t, testenv.SQLite(t), rx.URL)
	cfg.Retention.Mail = config.Lifetime(time.Second)
	svc := start(t, cfg)
	if err := send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, buyerOrderMail(t, "920000009", "r@qoo10.jp", "r@example.jp", "03-1111-2222")); err != nil {
		t.Fatal(err)
	}
	rx.nextDelivered(t, 10*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for ; ; <-tick.C {
		m, err := svc.svc.Store().GetMail(t.Context(), "1")
		if err == nil && m.PurgedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mail not purged within 30s: %+v %v", m, err)
		}
	}
	if raw, err := svc.svc.Store().MailRaw(t.Context(), "1"); err != nil || len(raw) != 0 {
		t.Errorf("raw after purge: %d bytes, %v", len(raw), err)
	}
	// The cart's order record loses the buyer's values too.
	ordersURL := "http://" + svc.svc.HTTPAddr() + "/api/v1/orders"
	for ; ; <-tick.C {
		code, list := call(t, http.MethodGet, ordersURL, testAdminToken)
		if code == 200 && strings.Contains(string(list), "920000009") && !strings.Contains(string(list), "r@example.jp") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order record not purged within 30s: %d %s", code, list)
		}
	}
}

// smtpLoad sends mail from 6 sessions until stop is called; each
// Message-ID comes out of the channel once its mail got 250.
func smtpLoad(t *testing.T, addr string) (got chan string, stop func()) {
	got = make(chan string, 100000)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-quit:
					return
				default:
				}
				id := fmt.Sprintf("load-%d-%d@qoo10.jp", w, i)
				raw := []byte("From: qoo10info@qoo10.jp\r\nTo: orders@in.example.test\r\nSubject: load\r\nMessage-ID: <" + id +
					">\r\n\r\n" + strings.Repeat("body line\r\n", 50))
				if err := sendPlain(addr, "orders@in.example.test", raw); err != nil {
					t.Error(err)
					return
				}
				got <- id
			}
		}()
	}
	stop = sync.OnceFunc(func() {
		close(quit)
		wg.Wait()
		close(got)
	})
	t.Cleanup(stop)
	return got, stop
}

// backupUnderLoad runs the load, takes a backup with backup once 100 mails
// got 250, lets 50 more come, and returns the Message-IDs accepted before
// the backup began and how many were accepted in all.
func backupUnderLoad(t *testing.T, addr string, backup func()) (before []string, total int) {
	got, stop := smtpLoad(t, addr)
	for len(before) < 100 {
		before = append(before, <-got)
	}
	backup()
	total = len(before)
	for ; total < len(before)+50; total++ {
		<-got // the load goes on after the backup
	}
	stop()
	for range got {
		total++
	}
	return before, total
}

// checkRestored reports the mails of before missing from the restored
// store that db reads, and checks that the backup was taken under load.
func checkRestored(t *testing.T, db *sql.DB, mailTable string, before []string, total int) {
	t.Helper()
	have := map[string]bool{}
	rows, err := db.QueryContext(t.Context(), `SELECT message_id FROM `+mailTable)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		have[strings.Trim(id, "<>")] = true
	}
	rows.Close()
	missing := 0
	for _, id := range before {
		if !have[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of the %d mails accepted before the backup are not in it", missing, len(before))
	}
	if len(have) >= total {
		t.Errorf("the backup holds %d mails, all %d accepted: it was not taken under load", len(have), total)
	}
	t.Logf("%d mails accepted before the backup, %d in it, %d accepted in all", len(before), len(have), total)
}

// TestBackupUnderLoad: a backup taken while mail keeps coming in holds,
// once restored, every mail that got 250 before the backup began.
func TestBackupUnderLoad(t *testing.T) {
	url := testenv.SQLite(t)
	svc := start(t, testConfig(t, url, ""))
	file := filepath.Join(t.TempDir(), "backup.db")
	before, total := backupUnderLoad(t, svc.svc.SMTPAddr(), func() {
		code, out, errs := runCLI(t, map[string]string{"QOO10HOOK_STORE": url}, "backup", file)
		if code != 0 {
			t.Fatalf("backup: exit %d: %s", code, errs)
		}
		t.Logf("backup: %s", out)
	})
	restored := filepath.Join(t.TempDir(), "restored.db")
	code, out, errs := runCLI(t, map[string]string{"QOO10HOOK_STORE": "sqlite:" + restored}, "restore", file)
	if code != 0 || !strings.Contains(out, "restored") {
		t.Fatalf("restore: exit %d: %s %s", code, out, errs)
	}
	db, err := sql.Open("sqlite", "file:"+restored+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkRestored(t, db, "mail", before, total)
}

// TestPgDumpUnderLoad: the PostgreSQL backup docs/data-lifetime.md gives
// (pg_dump of the store's schema while the service runs, pg_restore into
// an empty database) restores every mail that got 250 before it began.
func TestPgDumpUnderLoad(t *testing.T) {
	url := testenv.Postgres(t)
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	u, _ := neturl.Parse(url)
	schema := u.Query().Get("search_path")
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	base := u.String()

	svc := start(t, testConfig(t, url, ""))
	file := filepath.Join(t.TempDir(), "qoo10hook.dump")
	before, total := backupUnderLoad(t, svc.svc.SMTPAddr(), func() {
		out, err := exec.CommandContext(t.Context(), "pg_dump", "--format=custom", "--schema="+schema, "--no-owner",
			"--file="+file, base).CombinedOutput()
		if err != nil {
			t.Fatalf("pg_dump: %v\n%s", err, out)
		}
	})

	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	dbName := "r" + schema
	if _, err := admin.ExecContext(t.Context(), `CREATE DATABASE `+dbName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(`DROP DATABASE IF EXISTS ` + dbName + ` WITH (FORCE)`) })
	ru := *u
	ru.Path = "/" + dbName
	if out, err := exec.CommandContext(t.Context(), "pg_restore", "--no-owner", "--dbname="+ru.String(), file).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	db, err := sql.Open("pgx", ru.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkRestored(t, db, schema+".mail", before, total)
}
