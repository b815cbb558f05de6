package admin

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/qoo10hook/qoo10hook/catalog"
	"github.com/qoo10hook/qoo10hook/inventory"
)

// Inventory is the catalog and stock service as the console uses it;
// *inventory.Service has it.
type Inventory interface {
	Stock(ctx context.Context, f inventory.StockFilter) (*inventory.StockPage, error)
	Files(ctx context.Context, seller string) ([]inventory.FileInfo, error)
	Import(ctx context.Context, seller string, uploads []inventory.Upload, o inventory.ImportOptions) (*inventory.ImportReport, error)
	// Limits are the largest catalog file taken and the low-stock threshold.
	Limits() (maxFileBytes, lowStockThreshold int64)
}

func (h *Handler) routesStock() {
	h.mux.HandleFunc("GET /admin/stock", h.pageStock)
	h.mux.HandleFunc("GET /admin/catalog", h.pageCatalog)
	h.mux.HandleFunc("POST /admin/catalog", h.formCatalog)
}

// stockRows bounds the Stock page.
const stockRows = 2000

type stockData struct {
	Stock     []inventory.Stock
	Threshold int64
	More      bool
}

// pageStock lists the running stock, low stock first, then by quantity.
func (h *Handler) pageStock(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := h.inventory.Stock(r.Context(), inventory.StockFilter{SellerID: strings.TrimSpace(q.Get("seller_id")), Limit: stockRows})
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	_, threshold := h.inventory.Limits()
	rows := p.Stock
	slices.SortStableFunc(rows, func(a, b inventory.Stock) int {
		la, lb := a.Qty < threshold, b.Qty < threshold
		if la != lb {
			if la {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Qty, b.Qty)
	})
	h.render(w, r, http.StatusOK, "stock", page{Title: "Stock", Nav: "stock", Filter: q,
		Data: stockData{Stock: rows, Threshold: threshold, More: p.NextOffset > 0}})
}

type catalogData struct {
	Files  []inventory.FileInfo
	Report *inventory.ImportReport
	Seller string
}

func (h *Handler) pageCatalog(w http.ResponseWriter, r *http.Request) {
	h.renderCatalog(w, r, http.StatusOK, nil, "", nil)
}

func (h *Handler) renderCatalog(w http.ResponseWriter, r *http.Request, code int, rep *inventory.ImportReport, seller string, fail error) {
	fs, err := h.inventory.Files(r.Context(), "")
	if err != nil {
		h.renderErr(w, r, err)
		return
	}
	p := page{Title: "Catalog", Nav: "catalog", Data: catalogData{Files: fs, Report: rep, Seller: seller}}
	if fail != nil {
		p.Error = fail.Error()
	}
	h.render(w, r, code, "catalog", p)
}

// formCatalog imports the QSM CSVs of the upload form and shows the
// import report; a bad file is reported on the page, nothing imported.
func (h *Handler) formCatalog(w http.ResponseWriter, r *http.Request) {
	limit, _ := h.inventory.Limits()
	r.Body = http.MaxBytesReader(w, r.Body, 2*limit+1<<20)
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		h.renderCatalog(w, r, http.StatusBadRequest, nil, "", fmt.Errorf("the upload could not be read: %v", err))
		return
	}
	defer r.MultipartForm.RemoveAll()
	if !h.auth.checkCSRF(r) {
		h.form(w, r) // answers 403 with the form's explanation
		return
	}
	seller := strings.TrimSpace(r.PostFormValue("seller_id"))
	var ups []inventory.Upload
	for _, fh := range r.MultipartForm.File["files"] {
		f, err := fh.Open()
		if err != nil {
			h.renderCatalog(w, r, http.StatusBadRequest, nil, seller, err)
			return
		}
		b, err := io.ReadAll(io.LimitReader(f, limit+1))
		f.Close()
		if err == nil && int64(len(b)) > limit {
			err = fmt.Errorf("%s: more than %d bytes", fh.Filename, limit)
		}
		if err != nil {
			h.renderCatalog(w, r, http.StatusBadRequest, nil, seller, err)
			return
		}
		ups = append(ups, inventory.Upload{Name: path.Base(strings.ReplaceAll(fh.Filename, `\`, "/")), Body: bytes.NewReader(b)})
	}
	if len(ups) == 0 {
		h.renderCatalog(w, r, http.StatusBadRequest, nil, seller, errors.New("choose GoodsList.csv, InventoryManagement_gridInventory.csv or both"))
		return
	}
	rep, err := h.inventory.Import(r.Context(), seller, ups, inventory.ImportOptions{Partial: r.PostFormValue("partial") != ""})
	var rejected *inventory.RejectedError
	if errors.As(err, &rejected) {
		// Nothing changed: the report lists the rows that refused the file.
		h.renderCatalog(w, r, http.StatusBadRequest, rejected.Report, seller, err)
		return
	}
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, inventory.ErrInvalid) || errors.Is(err, catalog.ErrFormat) || errors.Is(err, catalog.ErrTooLarge) {
			code = http.StatusBadRequest
		} else {
			h.log.Error("admin: catalog import failed", "err", err)
			err = errors.New("internal error; see the service log")
		}
		h.renderCatalog(w, r, code, nil, seller, err)
		return
	}
	h.log.Info("admin: catalog imported", "seller_id", rep.SellerID, "files", len(rep.Files), "by", actor(r))
	h.renderCatalog(w, r, http.StatusOK, rep, seller, nil)
}
