package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// writeGoodsList writes a GoodsList.csv of n good rows to a file in dir.
func writeGoodsList(t *testing.T, dir string, n int) string {
	t.Helper()
	path := filepath.Join(dir, "GoodsList.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "商品番号,販売者商品コード,商品名,販売価格,在庫数,販売状態")
	for i := range n {
		fmt.Fprintf(w, "%d,SKU-%07d,綿100％ 長袖Tシャツ（メンズ） 第%d弾,1980,%d,販売中\n", 1000000000+i, i, i, i%50)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCatalogImportKeepsIntakeOpen: while a large catalog goes in through
// the admin API, mail keeps getting 250 and webhooks keep going out: the
// import never holds the store's writer for long.
func TestCatalogImportKeepsIntakeOpen(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			rx := newReceiver(t)
			cfg := testConfig(t, st.URL, rx.URL)
			cfg.HTTP.AdminToken = testAdminToken
			svc := start(t, cfg)
			path := writeGoodsList(t, t.TempDir(), importRows)

			type result struct {
				code int
				body []byte
				err  error
			}
			done := make(chan result, 1)
			go func() {
				f, err := os.Open(path)
				if err != nil {
					done <- result{err: err}
					return
				}
				defer f.Close()
				req, _ := http.NewRequest("POST", "http://"+svc.svc.HTTPAddr()+"/api/v1/catalog?seller_id=big&filename=GoodsList.csv", f)
				req.Header.Set("Authorization", "Bearer "+testAdminToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					done <- result{err: err}
					return
				}
				defer resp.Body.Close()
				var b bytes.Buffer
				b.ReadFrom(resp.Body)
				done <- result{code: resp.StatusCode, body: b.Bytes()}
			}()

			// Mail at 10/s for as long as the import runs, each in a session
			// of its own: every one gets 250, in well under mailWait (the
			// goal is 1 s; the bound leaves room for a shared machine and
			// the race detector, and is far below the import's length).
			const mailWait = 5 * time.Second
			var wg sync.WaitGroup
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			sent, delivered := 0, 0
			var res result
		loop:
			for {
				select {
				case res = <-done:
					rx.mu.Lock()
					delivered = len(rx.requests)
					rx.mu.Unlock()
					break loop
				case <-tick.C:
				}
				sent++
				// A new order each time: one event, one webhook.
				mail := renderMail("placed", order{MessageID: fmt.Sprintf("during-import-%d@qoo10.jp", sent),
					Seller: "shop", Pack: fmt.Sprint(700000000 + sent), OrderNo: fmt.Sprint(900000000 + sent)})
				wg.Add(1)
				go func(n int) {
					defer wg.Done()
					begin := time.Now()
					err := sendMail(svc.svc.SMTPAddr(), mail)
					if took := time.Since(begin); err != nil || took > mailWait {
						t.Errorf("mail %d during the import: %v after %v, want 250 within %v", n, err, took.Round(time.Millisecond), mailWait)
					}
				}(sent)
			}
			wg.Wait()
			if res.err != nil || res.code != 200 {
				t.Fatalf("import: %d %s %v", res.code, res.body, res.err)
			}
			var rep struct {
				Files []struct{ Imported int } `json:"files"`
			}
			if err := json.Unmarshal(res.body, &rep); err != nil || len(rep.Files) != 1 || rep.Files[0].Imported != importRows {
				t.Errorf("import report %s", res.body)
			}
			// Deliveries go on too: the webhooks of the mails sent while the
			// import ran arrive before it ends.
			if delivered == 0 {
				t.Errorf("no webhook delivered while the import ran (%d mails sent)", sent)
			}
			if sent < 10 {
				t.Errorf("only %d mails sent while the import ran: the file is too small to show anything", sent)
			}
			t.Logf("%d mails got 250 and %d webhooks were delivered while %d SKUs were imported", sent, delivered, importRows)
		})
	}
}

// sendMail sends raw to orders@in.example.test from a goroutine of its own.
func sendMail(addr string, raw []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("sender.example.test"); err != nil {
		return err
	}
	if err := c.SendMail("qoo10info@qoo10.jp", []string{"orders@in.example.test"}, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}
