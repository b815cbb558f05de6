package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/qoo10hook/qoo10hook/catalog"
)

// Patterns are the requests the handler serves, as http.ServeMux patterns.
// The admin surface mounts the handler on each, behind its
// authentication: for _, p := range Patterns { mux.Handle(p, h) }.
var Patterns = []string{
	"GET /api/v1/stock",
	"GET /api/v1/catalog",
	"POST /api/v1/catalog",
	"GET /api/v1/catalog/export",
}

// maxUploadFiles is how many files one upload may carry: one of each kind.
const maxUploadFiles = 2

// defaultStockLimit is the page size of GET /api/v1/stock without limit.
const defaultStockLimit = 1000

type handler struct {
	svc *Service
	log *slog.Logger
	mux *http.ServeMux
}

// NewHandler serves the inventory's part of the admin API:
//
//   - GET /api/v1/stock?seller_id=S&below=N&limit=N&offset=N: the running
//     stock as JSON, by seller and SKU, a page at a time;
//   - POST /api/v1/catalog?seller_id=S: import catalog files, sent as
//     multipart/form-data (every part with a file name, at most two) or
//     as the raw body with &filename=GoodsList.csv; answers the import
//     report (bad rows with file, line and column). A bad row refuses
//     the whole import with 400, listing the bad rows, unless
//     &partial=true: then the good rows are imported;
//   - GET /api/v1/catalog?seller_id=S: the imported files;
//   - GET /api/v1/catalog/export?seller_id=S&kind=goods|options: the
//     imported file with the current stock, as CSV.
//
// It expects the full request path, and no authentication of its own.
func NewHandler(svc *Service, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handler{svc: svc, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /api/v1/stock", h.stock)
	h.mux.HandleFunc("GET /api/v1/catalog", h.files)
	h.mux.HandleFunc("POST /api/v1/catalog", h.upload)
	h.mux.HandleFunc("GET /api/v1/catalog/export", h.export)
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *handler) stock(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := StockFilter{SellerID: q.Get("seller_id"), Limit: defaultStockLimit}
	var err error
	if v := q.Get("below"); v != "" {
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil {
			h.fail(w, r, fmt.Errorf("%w: below=%q is not a whole number", ErrInvalid, v))
			return
		}
		f.Below = &n
	}
	if f.Limit, err = intParam(q.Get("limit"), "limit", defaultStockLimit, 1, MaxStockRows); err == nil {
		f.Offset, err = intParam(q.Get("offset"), "offset", 0, 0, 1<<31-1)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page, err := h.svc.Stock(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func intParam(v, name string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%w: %s=%q must be a whole number from %d to %d", ErrInvalid, name, v, lo, hi)
	}
	return n, nil
}

func (h *handler) files(w http.ResponseWriter, r *http.Request) {
	fs, err := h.svc.Files(r.Context(), r.URL.Query().Get("seller_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if fs == nil {
		fs = []FileInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"files": fs})
}

func (h *handler) upload(w http.ResponseWriter, r *http.Request) {
	limit := h.svc.s.MaxFileBytes
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadFiles*limit+1<<20)
	uploads, err := h.uploads(r, limit)
	defer removeSpooled(uploads)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	partial, _ := strconv.ParseBool(r.URL.Query().Get("partial"))
	rep, err := h.svc.Import(r.Context(), r.URL.Query().Get("seller_id"), uploads, ImportOptions{Partial: partial})
	var rejected *RejectedError
	if errors.As(err, &rejected) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error(), "files": rejected.Report.Files})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	bad := 0
	for _, f := range rep.Files {
		bad += len(f.Errors)
	}
	h.log.Info("catalog imported", "seller_id", rep.SellerID, "files", len(rep.Files), "bad_rows", bad)
	writeJSON(w, http.StatusOK, rep)
}

// uploads copies the files of an upload request to temporary files
// (removeSpooled removes them): a multipart part can only be read after
// the one before it, and a catalog is read twice.
func (h *handler) uploads(r *http.Request, limit int64) ([]Upload, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		name := path.Base(strings.ReplaceAll(r.URL.Query().Get("filename"), `\`, "/"))
		if name == "." || name == "/" {
			name = "catalog.csv"
		}
		body, err := spoolLimited(r.Body, name, limit)
		if body == nil {
			return nil, err
		}
		// Returned with its error too, so that the caller removes it.
		return []Upload{{Name: name, Body: body}}, err
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var out []Upload
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, uploadError(err)
		}
		if part.FileName() == "" {
			part.Close()
			continue // a form field, not a file
		}
		if len(out) == maxUploadFiles {
			return out, fmt.Errorf("%w: more than %d files; send one GoodsList.csv and one InventoryManagement_gridInventory.csv at most",
				ErrInvalid, maxUploadFiles)
		}
		name := path.Base(strings.ReplaceAll(part.FileName(), `\`, "/"))
		body, err := spoolLimited(part, name, limit)
		part.Close()
		if body != nil {
			out = append(out, Upload{Name: name, Body: body})
		}
		if err != nil {
			return out, err
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the form has no file part", ErrInvalid)
	}
	return out, nil
}

// spoolLimited copies r to a temporary file, which it returns even with
// an error, for removeSpooled.
func spoolLimited(r io.Reader, name string, limit int64) (*os.File, error) {
	f, err := os.CreateTemp("", "qoo10hook-upload-*.csv")
	if err != nil {
		return nil, fmt.Errorf("inventory: spool %s: %w", name, err)
	}
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if err != nil {
		return f, uploadError(err)
	}
	if n > limit {
		return f, fmt.Errorf("inventory: %s: %w: more than %d bytes", name, catalog.ErrTooLarge, limit)
	}
	return f, nil
}

func removeSpooled(uploads []Upload) {
	for _, u := range uploads {
		if f, ok := u.Body.(*os.File); ok {
			f.Close()
			os.Remove(f.Name())
		}
	}
}

func uploadError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("inventory: upload: %w: more than %d bytes", catalog.ErrTooLarge, mbe.Limit)
	}
	return fmt.Errorf("%w: reading the upload: %v", ErrInvalid, err)
}

func (h *handler) export(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var buf bytes.Buffer
	info, err := h.svc.Export(r.Context(), &buf, q.Get("seller_id"), q.Get("kind"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	charset := "utf-8"
	if info.Encoding == string(catalog.CP932) {
		charset = "Shift_JIS"
	}
	w.Header().Set("Content-Type", "text/csv; charset="+charset)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": info.Name}))
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
}

// fail answers an error: 400 for a bad request or file, 413 for a file too
// large, 404 when there is nothing to export, 500 (logged) otherwise.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrInvalid), errors.Is(err, catalog.ErrFormat):
		code = http.StatusBadRequest
	case errors.Is(err, catalog.ErrTooLarge):
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrNoCatalog):
		code = http.StatusNotFound
	}
	msg := err.Error()
	if code == http.StatusInternalServerError {
		h.log.Error("inventory request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error; see the service log"
	}
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
