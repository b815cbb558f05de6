//go:build race

package app

// importRows is the catalog TestCatalogImportKeepsIntakeOpen imports: the
// race detector slows SQLite's Go code tenfold, and a smaller file still
// holds the writer for many seconds in one transaction.
const importRows = 25_000
