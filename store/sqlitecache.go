package store

import (
	"container/list"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"reflect"
	"strings"
	"sync"

	"modernc.org/sqlite"
)

// stmtCacheSize bounds the prepared statements kept per SQLite connection:
// River's and ours together use a few dozen distinct statements.
const stmtCacheSize = 256

// openSQLite opens a pool whose connections keep their prepared
// statements. The driver prepares every statement anew on each call, and
// preparing River's larger statements is most of what a delivery costs
// SQLite.
func openSQLite(dsn string) (*sql.DB, error) {
	enableFdatasync()
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(cachingConnector{base}), nil
}

type cachingConnector struct{ driver.Connector }

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newCachingConn(conn)
}

// innerConn is what the SQLite driver's connections implement.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type cachedStmt struct {
	query string
	stmt  interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}
	busy bool // rows of it are open
	elem *list.Element
}

// cachingConn runs single statements through prepared statements it keeps.
// database/sql never uses a connection from two goroutines at once, so it
// needs no lock.
type cachingConn struct {
	innerConn
	stmts map[string]*cachedStmt
	lru   *list.List
}

func newCachingConn(c driver.Conn) (driver.Conn, error) {
	ic, ok := c.(innerConn)
	if !ok {
		c.Close()
		return nil, errors.New("store: sqlite connection lacks a driver interface")
	}
	return &cachingConn{innerConn: ic, stmts: map[string]*cachedStmt{}, lru: list.New()}, nil
}

// Unwrap lets the SQLite driver see its own connection.
func (c *cachingConn) Unwrap() driver.Conn { return c.innerConn }

// cached returns an idle prepared statement for query, or nil when the
// query is a script or its statement is busy with open rows.
func (c *cachingConn) cached(ctx context.Context, query string) (*cachedStmt, error) {
	if cs, ok := c.stmts[query]; ok {
		if cs.busy {
			return nil, nil
		}
		c.lru.MoveToFront(cs.elem)
		return cs, nil
	}
	if isScript(query) {
		return nil, nil // the driver runs a script statement by statement
	}
	st, err := c.innerConn.PrepareContext(ctx, preparedText(query))
	if err != nil {
		return nil, err
	}
	full, ok := st.(interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	})
	if !ok {
		st.Close()
		return nil, nil
	}
	cs := &cachedStmt{query: query, stmt: full}
	cs.elem = c.lru.PushFront(cs)
	c.stmts[query] = cs
	for c.lru.Len() > stmtCacheSize {
		old := c.lru.Back().Value.(*cachedStmt)
		if old.busy {
			break
		}
		c.lru.Remove(old.elem)
		delete(c.stmts, old.query)
		old.stmt.Close()
	}
	return cs, nil
}

// riverFetch is how River's fetch statement (JobGetAvailable) begins, and
// riverFetchLimit its LIMIT: a bare parameter, bound to how many jobs the
// queue's free workers can take, which differs from one fetch to the next.
// SQLite plans a statement for the value bound to a bare LIMIT parameter,
// and prepares it again whenever that value changes: most fetches parsed
// River's largest statement anew, half of what a fetch cost the writer. As
// an expression the LIMIT takes the same value and leaves the plan alone.
const (
	riverFetch      = "-- name: JobGetAvailable "
	riverFetchLimit = "LIMIT ?5\n"
)

// preparedText is the text query runs as, cached or not.
func preparedText(query string) string {
	if strings.HasPrefix(query, riverFetch) {
		return strings.Replace(query, riverFetchLimit, "LIMIT ?5 + 0\n", 1)
	}
	return query
}

// isScript tells whether query holds more than one statement: a semicolon
// before its end outside comments, quotes and identifiers. (River's
// completion statement has one in a comment; taking that for a script
// would prepare its large recursive query anew for every job.)
func isScript(query string) bool {
	q := strings.TrimRight(strings.TrimSpace(query), ";")
	for i := 0; i < len(q); i++ {
		switch c := q[i]; {
		case c == ';':
			return true
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				return false
			}
			i += end
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return false
			}
			i += end + 3
		case c == '\'' || c == '"' || c == '`':
			end := strings.IndexByte(q[i+1:], c)
			if end < 0 {
				return false
			}
			i += end + 1
		}
	}
	return false
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.innerConn.ExecContext(ctx, preparedText(query), args)
	}
	return cs.stmt.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.innerConn.QueryContext(ctx, preparedText(query), args)
	}
	rows, err := cs.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, cs: cs}, nil
}

func (c *cachingConn) Close() error {
	for _, cs := range c.stmts {
		cs.stmt.Close()
	}
	c.stmts = nil
	return c.innerConn.Close()
}

// cachedRows frees its statement for the next query when closed.
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.cs.busy = false
	return err
}

// ColumnTypeDatabaseTypeName lets database/sql and the driver's own
// conversions see the declared column types through the wrapper.
func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

// ColumnTypeScanType forwards the driver's scan types.
func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

var fdatasyncOnce sync.Once

// enableFdatasync makes SQLite commit with fdatasync(2) instead of
// fsync(2), as SQLite built for Linux does: the data and the size reach the
// disk all the same, without waiting on the file's timestamps, which ext4
// would journal on every commit.
func enableFdatasync() {
	fdatasyncOnce.Do(func() { sqlite.Fdatasync(true) })
}
