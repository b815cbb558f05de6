//go:build !race

package app

// importRows is the catalog TestCatalogImportKeepsIntakeOpen imports.
const importRows = 150_000
