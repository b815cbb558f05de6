package inventory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/qoo10hook/qoo10hook/catalog"
	"github.com/qoo10hook/qoo10hook/event"
)

// DB is the store as the catalog uses it (*store.Store): a write
// transaction that commits all or nothing, and a read-only snapshot.
type DB interface {
	Tx(ctx context.Context, fn func(*sql.Tx) error) error
	View(ctx context.Context, fn func(*sql.Tx) error) error
}

// ErrInvalid wraps the errors of a request that cannot be served as
// asked (no seller, two files of one kind, an unknown kind): the caller
// fixes the request. Errors wrapping catalog.ErrFormat or
// catalog.ErrTooLarge are about a file.
var ErrInvalid = errors.New("inventory: invalid request")

// ErrNoCatalog is returned by Export when no imported file matches.
var ErrNoCatalog = errors.New("inventory: no catalog imported")

// Service imports catalogs, lists the running stock and exports it.
type Service struct {
	db  DB
	s   Settings
	now func() time.Time
	// importing lets one import write at a time; lastGen is the
	// generation of the last one (see generation).
	importing sync.Mutex
	lastGen   int64
}

// NewService returns the catalog service over db.
func NewService(db DB, s Settings) (*Service, error) {
	s, err := s.normalized()
	if err != nil {
		return nil, err
	}
	return &Service{db: db, s: s, now: time.Now}, nil
}

// CheckSellerID reports whether id can name a seller: 1 to 100 printable
// characters.
func CheckSellerID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: name the seller (seller_id, 販売者ID) the catalog belongs to", ErrInvalid)
	}
	if len(id) > 100 || strings.IndexFunc(id, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return fmt.Errorf("%w: seller_id %q is not 1 to 100 printable characters", ErrInvalid, id)
	}
	return nil
}

// FileInfo describes an imported catalog file.
type FileInfo struct {
	SellerID   string    `json:"seller_id"`
	Kind       string    `json:"kind"`
	Name       string    `json:"name"`
	Encoding   string    `json:"encoding"`
	Size       int64     `json:"size"`
	GoodRows   int       `json:"good_rows"`
	BadRows    int       `json:"bad_rows"`
	ImportedAt time.Time `json:"imported_at"`
}

// Files lists the imported files, of one seller or ("") of all.
func (s *Service) Files(ctx context.Context, seller string) ([]FileInfo, error) {
	var out []FileInfo
	err := s.db.View(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = files(ctx, tx, seller, "")
		return err
	})
	return out, err
}

func files(ctx context.Context, tx *sql.Tx, seller, kind string) ([]FileInfo, error) {
	q := `SELECT seller_id, kind, name, encoding, size, good_rows, bad_rows, imported_at FROM inventory_file`
	var where []string
	var args []any
	if seller != "" {
		args = append(args, seller)
		where = append(where, fmt.Sprintf("seller_id = $%d", len(args)))
	}
	if kind != "" {
		args = append(args, kind)
		where = append(where, fmt.Sprintf("kind = $%d", len(args)))
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := tx.QueryContext(ctx, q+" ORDER BY seller_id, kind", args...)
	if err != nil {
		return nil, fmt.Errorf("inventory: list files: %w", err)
	}
	defer rows.Close()
	var out []FileInfo
	for rows.Next() {
		var f FileInfo
		var at int64
		if err := rows.Scan(&f.SellerID, &f.Kind, &f.Name, &f.Encoding, &f.Size, &f.GoodRows, &f.BadRows, &at); err != nil {
			return nil, fmt.Errorf("inventory: list files: %w", err)
		}
		f.ImportedAt = time.UnixMicro(at).In(event.JST)
		out = append(out, f)
	}
	return out, rows.Err()
}

// Stock is one SKU's running stock.
type Stock struct {
	SellerID       string `json:"seller_id"`
	SKU            string `json:"sku"`
	Kind           string `json:"kind"` // the catalog file it came from: goods or options
	ItemNo         string `json:"item_no,omitempty"`
	SellerItemCode string `json:"seller_item_code,omitempty"`
	OptionCode     string `json:"option_code,omitempty"`
	Title          string `json:"title,omitempty"`
	Qty            int64  `json:"qty"`
	ImportedQty    int64  `json:"imported_qty"`
	// Low is set while the stock is below the threshold.
	Low        bool      `json:"low"`
	ImportedAt time.Time `json:"imported_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// StockFilter selects stock rows.
type StockFilter struct {
	SellerID string
	// Below, when set, keeps SKUs whose stock is less than it.
	Below *int64
	// Limit bounds the rows returned (default and maximum MaxStockRows);
	// Offset skips rows, in (seller_id, sku) order.
	Limit, Offset int
}

// MaxStockRows bounds one Stock page.
const MaxStockRows = 10000

// StockPage is one page of the running stock.
type StockPage struct {
	Stock []Stock `json:"stock"`
	// NextOffset is the Offset of the next page, 0 after the last one.
	NextOffset int `json:"next_offset,omitempty"`
}

// Stock lists the running stock, by seller and SKU.
func (s *Service) Stock(ctx context.Context, f StockFilter) (*StockPage, error) {
	q := `SELECT seller_id, sku, kind, item_no, seller_code, option_code, title, qty, imported_qty, low,
		imported_at, updated_at FROM inventory_stock`
	var where []string
	var args []any
	if f.SellerID != "" {
		args = append(args, f.SellerID)
		where = append(where, fmt.Sprintf("seller_id = $%d", len(args)))
	}
	if f.Below != nil {
		args = append(args, *f.Below)
		where = append(where, fmt.Sprintf("qty < $%d", len(args)))
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 || limit > MaxStockRows {
		limit = MaxStockRows
	}
	offset := max(f.Offset, 0)
	args = append(args, limit+1, offset)
	q += fmt.Sprintf(" ORDER BY seller_id, sku LIMIT $%d OFFSET $%d", len(args)-1, len(args))
	out := []Stock{}
	err := s.db.View(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Stock
			var low, imported, updated int64
			if err := rows.Scan(&r.SellerID, &r.SKU, &r.Kind, &r.ItemNo, &r.SellerItemCode, &r.OptionCode, &r.Title,
				&r.Qty, &r.ImportedQty, &low, &imported, &updated); err != nil {
				return err
			}
			r.Low = low != 0
			r.ImportedAt, r.UpdatedAt = time.UnixMicro(imported).In(event.JST), time.UnixMicro(updated).In(event.JST)
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("inventory: list stock: %w", err)
	}
	page := &StockPage{Stock: out}
	if len(out) > limit {
		page.Stock, page.NextOffset = out[:limit], offset+limit
	}
	return page, nil
}

// keyColumn is the catalog column a SKU key is read from.
var keyColumn = map[string]string{
	KeyOptionCode:     catalog.ColOptionCode,
	KeySellerItemCode: catalog.ColSellerCode,
	KeyItemNo:         catalog.ColItemNo,
}

// Limits are the largest catalog file an import takes and the threshold
// under which a SKU's stock is low.
func (s *Service) Limits() (maxFileBytes, lowStockThreshold int64) {
	return s.s.MaxFileBytes, s.s.Threshold
}
