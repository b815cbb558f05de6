package inventory

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

func serve(t *testing.T, h http.Handler, method, target, contentType string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, target, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
	}
	return v
}

// TestHandler: upload raw and multipart, list the files, read the stock
// with its filters, export; and the errors each answers.
func TestHandler(t *testing.T) {
	t.Parallel()
	forStores(t, DeriverOptions{Settings: Settings{MaxFileBytes: 4096}}, func(t *testing.T, e *env) {
		h := NewHandler(e.svc, nil)

		rec := serve(t, h, "POST", "/api/v1/catalog?seller_id=shop&partial=true&filename=C%3A%5Cdl%5CGoodsList.csv", "text/csv", []byte(goodsCSV+"1004,BAD,x,y\n"))
		if rec.Code != 200 {
			t.Fatalf("raw upload: %d %s", rec.Code, rec.Body)
		}
		rep := decode[ImportReport](t, rec)
		if len(rep.Files) != 1 || rep.Files[0].Name != "GoodsList.csv" || rep.Files[0].Imported != 3 ||
			len(rep.Files[0].Errors) != 1 || rep.Files[0].Errors[0].Line != 5 || rep.Files[0].Errors[0].Column != 4 ||
			rep.Files[0].Errors[0].Header != "在庫数" {
			t.Errorf("raw upload report %+v", rep)
		}

		cp932, err := os.ReadFile(fixtures + "options_ja_cp932.csv")
		if err != nil {
			t.Fatal(err)
		}
		var form bytes.Buffer
		mw := multipart.NewWriter(&form)
		mw.WriteField("note", "ignored")
		w, _ := mw.CreateFormFile("file", "InventoryManagement_gridInventory.csv")
		w.Write(cp932)
		mw.Close()
		rec = serve(t, h, "POST", "/api/v1/catalog?seller_id=shop&partial=1", mw.FormDataContentType(), form.Bytes())
		if rec.Code != 200 {
			t.Fatalf("multipart upload: %d %s", rec.Code, rec.Body)
		}
		if rep := decode[ImportReport](t, rec); len(rep.Files) != 1 || rep.Files[0].Kind != "options" ||
			rep.Files[0].Encoding != "cp932" || len(rep.Files[0].Errors) != 2 {
			t.Errorf("multipart report %+v", rep)
		}

		e.send("", event.OrderPlaced, order("shop", "P1", line{"O1", "1002", "MUG-01", "", 4}))

		rec = serve(t, h, "GET", "/api/v1/stock?seller_id=shop&below=3", "", nil)
		page := decode[StockPage](t, rec)
		if rec.Code != 200 || len(page.Stock) != 2 || page.Stock[0].SKU != "CUP-BK-M" || page.Stock[1].SKU != "MUG-01" ||
			page.Stock[1].Qty != 1 || page.Stock[1].ImportedQty != 5 || page.Stock[1].Kind != "goods" {
			t.Errorf("stock below 3: %d %s", rec.Code, rec.Body)
		}
		rec = serve(t, h, "GET", "/api/v1/stock?limit=2", "", nil)
		if page := decode[StockPage](t, rec); len(page.Stock) != 2 || page.NextOffset != 2 {
			t.Errorf("stock limit 2: %s", rec.Body)
		}
		rec = serve(t, h, "GET", "/api/v1/stock?seller_id=nobody", "", nil)
		if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"stock":[]}` {
			t.Errorf("stock of nobody: %d %s", rec.Code, rec.Body)
		}

		rec = serve(t, h, "GET", "/api/v1/catalog?seller_id=shop", "", nil)
		if files := decode[map[string][]FileInfo](t, rec)["files"]; len(files) != 2 || files[0].Kind != "goods" || files[0].BadRows != 1 {
			t.Errorf("files: %s", rec.Body)
		}

		rec = serve(t, h, "GET", "/api/v1/catalog/export?seller_id=shop&kind=options", "", nil)
		if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), cp932) ||
			rec.Header().Get("Content-Type") != "text/csv; charset=Shift_JIS" ||
			rec.Header().Get("Content-Disposition") != `attachment; filename=InventoryManagement_gridInventory.csv` {
			t.Errorf("options export: %d %v", rec.Code, rec.Header())
		}
		rec = serve(t, h, "GET", "/api/v1/catalog/export?seller_id=shop&kind=goods", "", nil)
		if !strings.Contains(rec.Body.String(), "1002,MUG-01,マグカップ,1\n") {
			t.Errorf("goods export: %d %s", rec.Code, rec.Body)
		}

		big := goodsCSV + strings.Repeat("1009,X,x,1\n", 400)
		for _, c := range []struct {
			method, target, ctype string
			body                  string
			code                  int
			msg                   string
		}{
			{"POST", "/api/v1/catalog", "text/csv", goodsCSV, 400, "seller"},
			{"POST", "/api/v1/catalog?seller_id=shop", "text/csv", "hello\n", 400, "not a QSM catalog"},
			{"POST", "/api/v1/catalog?seller_id=shop", "text/csv", big, 413, "too large"},
			{"POST", "/api/v1/catalog?seller_id=shop", "multipart/form-data; boundary=x", "--x--\r\n", 400, "no file"},
			{"GET", "/api/v1/stock?below=x", "", "", 400, "below"},
			{"GET", "/api/v1/stock?limit=0", "", "", 400, "limit"},
			{"GET", "/api/v1/catalog/export?seller_id=shop", "", "", 400, "choose one"},
			{"GET", "/api/v1/catalog/export?seller_id=nobody", "", "", 404, "no catalog"},
			{"DELETE", "/api/v1/stock", "", "", 405, ""},
		} {
			rec := serve(t, h, c.method, c.target, c.ctype, []byte(c.body))
			if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.msg) {
				t.Errorf("%s %s: %d %s, want %d with %q", c.method, c.target, rec.Code, rec.Body, c.code, c.msg)
			}
		}
		if got := e.stock("shop", "MUG-01"); got != 1 {
			t.Errorf("refused uploads changed the stock: MUG-01 = %d", got)
		}
	})
}

// TestBadFileReplacesNothing: a file with a bad row is refused whole
// (400, listing the rows) and the stock stays as it was; partial=true
// imports the good rows; a file without one good row never replaces
// anything, partial or not.
func TestBadFileReplacesNothing(t *testing.T) {
	t.Parallel()
	forStores(t, DeriverOptions{}, func(t *testing.T, e *env) {
		h := NewHandler(e.svc, nil)
		post := func(query, body string) *httptest.ResponseRecorder {
			return serve(t, h, "POST", "/api/v1/catalog?seller_id=shop&filename=GoodsList.csv"+query, "text/csv", []byte(body))
		}
		if rec := post("", goodsCSV); rec.Code != 200 {
			t.Fatalf("good file: %d %s", rec.Code, rec.Body)
		}
		unchanged := func(what string) {
			t.Helper()
			for sku, want := range map[string]int64{"TS-001": 10, "MUG-01": 5, "BAG-01": 3} {
				if got := e.stock("shop", sku); got != want {
					t.Errorf("after %s: %s = %d, want %d", what, sku, got, want)
				}
			}
		}
		// One stray quote in row 2 swallows every row after it.
		strayQuote := "商品番号,販売者商品コード,商品名,在庫数\n1001,\"TS-001,長袖Tシャツ,7\n1002,MUG-01,マグカップ,4\n"
		oneBad := "商品番号,販売者商品コード,商品名,在庫数\n1001,TS-001,長袖Tシャツ,7\n1002,MUG-01,マグカップ,many\n"
		for _, c := range []struct{ name, query, body string }{
			{"a stray quote", "", strayQuote},
			{"a stray quote, partial", "&partial=true", strayQuote},
			{"a bad qty", "", oneBad},
		} {
			rec := post(c.query, c.body)
			if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"line":`) || !strings.Contains(rec.Body.String(), "GoodsList.csv") {
				t.Errorf("%s: %d %s, want 400 listing the rows", c.name, rec.Code, rec.Body)
			}
			unchanged(c.name)
		}
		rec := post("&partial=true", oneBad)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"imported":1`) {
			t.Errorf("a bad qty, partial: %d %s", rec.Code, rec.Body)
		}
		if got := e.stock("shop", "TS-001"); got != 7 {
			t.Errorf("TS-001 = %d after the partial import, want 7", got)
		}
	})
}

// TestRefusedUploadLeavesNoFile: an upload refused while it is spooled
// (too large) leaves no temporary file behind.
func TestRefusedUploadLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	e := newEnv(t, testenv.SQLite(t), DeriverOptions{Settings: Settings{MaxFileBytes: 4096}})
	h := NewHandler(e.svc, nil)
	big := goodsCSV + strings.Repeat("1009,X,x,1\n", 400)
	if rec := serve(t, h, "POST", "/api/v1/catalog?seller_id=shop", "text/csv", []byte(big)); rec.Code != 413 {
		t.Fatalf("too large upload: %d %s", rec.Code, rec.Body)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "qoo10hook-upload-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
